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


def test_invert_works_in_w_and_is_what_refine_does(model, test_images: torch.Tensor) -> None:
    """Issue 22: genae.invert asks LIA for its style space (w after the flow); refine is that same call."""
    x = test_images[:4]
    result = genae.invert(model, x, space="w+", init="encoder", steps=30)
    with torch.no_grad():
        torch.testing.assert_close(result.initial_reconstructions, model.decode_w(model.encode_w(x)))
        decoded = model.style_space().decoder.forward_styles(result.styles).clamp(-1, 1)
    torch.testing.assert_close(decoded, result.reconstructions)  # the latents are w per slot
    start = float(((result.initial_reconstructions - x) ** 2).mean())
    end = float(((result.reconstructions - x) ** 2).mean())
    assert end < 0.8 * start, (start, end)  # better than the encoder it started from, by a margin
    refined = model.refine(x, steps=30, space="w+")
    torch.testing.assert_close(refined.latents, result.latents, atol=0, rtol=0)


def test_invert_from_the_mean_starts_at_the_mean_w_image(model, test_images: torch.Tensor) -> None:
    x = test_images[:2]
    result = genae.invert(model, x, space="w", init="mean", steps=2)
    with torch.no_grad():
        mean_image = model.decode_w(model.mean_w())
    torch.testing.assert_close(result.initial_reconstructions, mean_image.expand_as(x))


@torch.no_grad()
def test_interpolate_walks_a_straight_line_in_w(model, test_images: torch.Tensor) -> None:
    z = model.encode(test_images[:4])
    path = model.interpolate(z[:2], z[2:], steps=3)
    w_a, w_b = model.encode_w(test_images[:2]), model.encode_w(test_images[2:4])
    torch.testing.assert_close(path[:, 1], model.decode_w((w_a + w_b) / 2), atol=1e-4, rtol=0)
    halfway_in_z = model.decode((z[:2] + z[2:]) / 2)
    assert float((path[:, 1] - halfway_in_z).abs().max()) > 1e-2  # z and w paths differ: it is not the z path


def test_cli_interpolates_in_the_models_own_space(model, tmp_path) -> None:
    import numpy as np
    from PIL import Image

    from genae.cli import _load_inputs, main
    from genae.viz import make_grid

    out = tmp_path / "path.png"
    assert main(["interpolate", NAME, "-n", "2", "--frames", "3", "--scale", "1", "--out", str(out)]) == 0
    with torch.no_grad():
        x = _load_inputs(model, (), "fashion-mnist-mini", 2, 0)
        w = model.encode_w(x)
        expected = model.decode_w(torch.cat([w[:1], (w[:1] + w[1:]) / 2, w[1:]]))
    grid = np.asarray(Image.open(out).convert("L")).astype(int)
    assert np.abs(grid - make_grid(expected, nrow=3)[..., 0].astype(int)).max() <= 1  # a line in w, not in z
