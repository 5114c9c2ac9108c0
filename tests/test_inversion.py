"""genae.invert: the projector recipe on any style-based decoder (toy model here; the bundled automodulator
in the slow test)."""

from __future__ import annotations

import math

import pytest
import torch
from safetensors.torch import load_file

import genae
from genae.inversion import (
    LPIPSLoss,
    PixelMSE,
    invert,
    make_loss,
    noise_regularization,
    projector_lr,
)


@pytest.fixture
def toy(toy_name):
    torch.manual_seed(0)
    return genae.create(toy_name).eval()


def _targets(model, n=3, seed=1):
    """Images the toy decoder can make exactly: decodings of known per-slot latents."""
    g = torch.Generator().manual_seed(seed)
    styles = [torch.randn(n, model.latent_dim, generator=g) for _ in range(model.decoder.num_styles)]
    with torch.no_grad():
        return model.decoder.forward_styles(styles)


def test_projector_schedule_matches_the_recipe():
    assert projector_lr(0.0, 0.1) == 0.0
    assert projector_lr(0.025, 0.1) == pytest.approx(0.05)  # half-way through the 5% warm-up
    assert projector_lr(0.5, 0.1) == pytest.approx(0.1)
    assert projector_lr(0.875, 0.1) == pytest.approx(0.05)  # half-way through the 25% cosine ramp-down
    assert projector_lr(1.0, 0.1) == pytest.approx(0.0)


def test_noise_regularization_is_small_for_noise_and_large_for_smooth_maps():
    g = torch.Generator().manual_seed(0)
    white = torch.randn(2, 1, 32, 32, generator=g)
    smooth = torch.nn.functional.interpolate(torch.randn(2, 1, 4, 4, generator=g), size=32, mode="bilinear")
    smooth = (smooth - smooth.mean()) / smooth.std()
    assert noise_regularization([white]).shape == (2,)
    assert float(noise_regularization([white]).max()) < 0.01 < float(noise_regularization([smooth]).min())


@pytest.mark.parametrize("space", ["w", "w+"])
def test_optimisation_lowers_the_loss_and_returns_everything(toy, space):
    x = _targets(toy)
    res = invert(toy, x, space=space, steps=60, init="mean")
    s, d = toy.decoder.num_styles, toy.latent_dim
    assert res.latents.shape == (3, s, d) and res.losses.shape == (60, 3)
    assert res.reconstructions.shape == x.shape and res.noise is None  # the toy decoder has no noise inputs
    if space == "w":
        assert torch.equal(res.latents, res.latents[:, :1].expand_as(res.latents))
    before = PixelMSE()(res.initial_reconstructions, x)
    after = PixelMSE()(res.reconstructions, x)
    assert bool((after < 0.5 * before).all()), (before, after)
    with torch.no_grad():
        again = toy.decoder.forward_styles(res.styles).clamp(-1, 1)
    torch.testing.assert_close(again, res.reconstructions)


def test_model_is_left_as_it_was(toy):
    toy.train()
    invert(toy, _targets(toy, 1), steps=2)
    assert toy.training and all(p.requires_grad for p in toy.parameters()) and all(p.grad is None for p in toy.parameters())


def test_seeded_runs_repeat_and_batches_invert_independently(toy):
    x = _targets(toy, 2)
    options = dict(steps=20, init="random")
    a = invert(toy, x, generator=torch.Generator().manual_seed(3), **options)
    b = invert(toy, x, generator=torch.Generator().manual_seed(3), **options)
    assert torch.equal(a.latents, b.latents)
    # one seed per image: random starts and latent noise do not depend on how the batch is chunked
    whole = invert(toy, x, generator=torch.Generator().manual_seed(3), **options)
    rows = invert(toy, x, generator=torch.Generator().manual_seed(3), batch_size=1, **options)
    torch.testing.assert_close(whole.initial_reconstructions, rows.initial_reconstructions)
    torch.testing.assert_close(whole.latents, rows.latents, atol=1e-4, rtol=0)


def test_encoder_method_and_callable_init(toy):
    x = _targets(toy, 2)
    res = invert(toy, x, method="encoder", init="encoder")
    assert res.losses.shape == (0, 2)
    expected = toy.encode(x).detach()[:, None].expand(-1, toy.decoder.num_styles, -1)
    torch.testing.assert_close(res.latents, expected)
    calls = []

    def my_encoder(images):
        calls.append(images.shape[0])
        return torch.zeros(images.shape[0], toy.decoder.num_styles, toy.latent_dim)

    res = invert(toy, x, init=my_encoder, steps=1, lr=1e-9, latent_noise=0.0)
    assert calls == [2] and float(res.latents.abs().max()) < 1e-6


def test_weighted_and_perceptual_losses(toy):
    combined = make_loss({"mse": 2.0, PixelMSE(): 1.0})
    a, b = torch.zeros(2, 1, 16, 16), torch.ones(2, 1, 16, 16)
    torch.testing.assert_close(combined(a, b), torch.full((2,), 3.0))
    features = make_loss("fashion-mnist-features")
    x = _targets(toy, 2)
    assert float(features(x, x).abs().max()) == 0 and float(features(x, -x).min()) > 0
    res = invert(toy, x, steps=3, loss={"mse": 1.0, "fashion-mnist-features": 0.1})
    assert "fashion-mnist-features" in res.loss_name


def test_lpips_vgg_loss_path_with_a_random_backbone(toy):
    from genae.metrics import LPIPS

    loss = LPIPSLoss(LPIPS("vgg", random_backbone=True), max_side=8)
    x = _targets(toy, 2)  # 16 px, shrunk to 8 px by the 256-px rule scaled down here
    res = invert(toy, x, steps=2, loss=loss)
    assert res.losses.shape == (2, 2) and bool(torch.isfinite(res.losses).all())
    assert "RANDOM-BACKBONE" in res.loss_name


def test_save_writes_safetensors(toy, tmp_path):
    res = invert(toy, _targets(toy, 2), steps=2)
    tensors = load_file(str(res.save(tmp_path / "latents.safetensors")))
    assert torch.equal(tensors["latents"], res.latents) and tensors["losses"].shape == (2, 2)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(space="z"), "space"),
        (dict(method="gradient"), "method"),
        (dict(steps=0), "steps"),
        (dict(lr=-1.0), "lr"),
        (dict(init="prior"), "init"),
        (dict(init=torch.zeros(2, 3)), "init"),
        (dict(loss="lpips-squeeze"), "loss"),
        (dict(method="encoder", init="mean"), "init"),
        (dict(batch_size=0), "batch_size"),
    ],
)
def test_bad_arguments_are_refused(toy, kwargs, match):
    with pytest.raises(ValueError, match=match):
        invert(toy, _targets(toy, 2), **kwargs)


def test_bad_images_and_models_are_refused(toy):
    with pytest.raises(ValueError, match="images"):
        invert(toy, torch.zeros(2, 3, 16, 16))
    with pytest.raises(TypeError, match="style-based|GenerativeAutoencoder"):
        invert(torch.nn.Linear(2, 2), torch.zeros(1, 1, 16, 16))


@pytest.mark.slow
def test_issue_call_on_the_bundled_automodulator():
    """The issue's call: W+ optimisation from the encoder beats the encoder's own reconstruction."""
    from genae.data import open_dataset

    model = genae.load("automodulator-fashion-mnist-32")
    data = open_dataset("fashion-mnist-mini", split="test", resolution=32)
    images = torch.stack([data[i][0] for i in range(16)])
    res = genae.invert(model, images, space="w+", steps=200, init="encoder")
    with torch.no_grad():
        encoder_mse = float((model.reconstruct(images) - images).square().mean())
    inverted_mse = float((res.reconstructions - images).square().mean())
    torch.testing.assert_close(res.initial_reconstructions, model.reconstruct(images))
    assert inverted_mse < 0.6 * encoder_mse, (inverted_mse, encoder_mse)
    assert math.isfinite(float(res.losses[-1].mean()))


def test_cli_writes_latents_grid_and_metrics(tmp_path):
    import json

    from PIL import Image

    from genae.cli import main

    out = tmp_path / "inv"
    code = main(["invert", "automodulator-fashion-mnist-32", "--out", str(out), "-n", "2", "--steps", "3",
                 "--init", "encoder", "--space", "w"])
    assert code == 0
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["steps"] == 3 and metrics["space"] == "w" and set(metrics["scores"]) == {"start", "result"}
    assert load_file(str(out / "latents.safetensors"))["latents"].shape == (2, 4, 128)
    assert Image.open(out / "grid.png").size[1] > Image.open(out / "grid.png").size[0] / 3  # three rows
    assert main(["invert", "automodulator-fashion-mnist-32", "--out", str(out), "-n", "2", "--steps", "0"]) == 1
