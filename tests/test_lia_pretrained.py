"""The bundled ``lia-fashion-mnist-32``: loads offline, reconstructs real garments, samples, round-trips its flow.

Thresholds sit well below what the shipped weights measure (card: test MSE 0.079 against the mean image's
0.265), so they catch a broken or swapped bundle, not noise.
"""

from __future__ import annotations

import pytest
import torch

import genae
from genae.bench.runner import resolve_model_name
from genae.data import open_dataset

NAME = "lia-fashion-mnist-32"


@pytest.fixture(scope="module")
def model() -> genae.GenerativeAutoencoder:
    return genae.load(NAME).eval()


@pytest.fixture(scope="module")
def test_images() -> torch.Tensor:
    items = open_dataset("fashion-mnist-mini", split="test", resolution=32, limit=64)
    return torch.stack([item[0] for item in items])


def test_loads_offline_with_a_card_stating_both_stages(monkeypatch: pytest.MonkeyPatch, model) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    assert NAME in genae.list_pretrained()
    assert resolve_model_name("lia", "fashion-mnist") == NAME
    assert "stage 1" in model.card["training"] and "stage 2" in model.card["training"]
    assert "VGG-16" in model.card["description"]  # the perceptual-network deviation is stated


@torch.no_grad()
def test_reconstructs_far_better_than_the_mean_image(model, test_images: torch.Tensor) -> None:
    mse = float(((model.reconstruct(test_images) - test_images) ** 2).mean())
    mean_image = float(((test_images - test_images.mean(0)) ** 2).mean())
    assert mse < 0.5 * mean_image, (mse, mean_image)


@torch.no_grad()
def test_samples_vary_and_the_flow_inverts(model, test_images: torch.Tensor) -> None:
    samples = model.sample(16, generator=torch.Generator().manual_seed(0))
    assert float(samples.std(0).mean()) > 0.05  # not one collapsed image
    z = model.encode(test_images)
    torch.testing.assert_close(model.flow(model.flow.inverse(z)), z, atol=1e-5, rtol=0)
    torch.testing.assert_close(model.flow.inverse(z), model.encode_w(test_images), atol=1e-5, rtol=0)
