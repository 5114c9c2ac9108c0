"""Baselines: VAE / WAE (classic and AdaIN decoders) and Balanced PIONEER."""

from __future__ import annotations

import math

import pytest
import torch

import genae
from genae.nets.classic import ProgressiveClassicDecoder
from genae.testing import check_model
from genae_plugins.baselines.losses import IMQ_SCALES, gaussian_kl, imq_mmd

NAMES = ["vae", "vae-adain", "wae", "wae-adain", "pioneer"]
TINY = {"resolution": 16, "channels_in": 1, "latent_dim": 8, "channels": [16, 16, 8], "encoder_channels": [16, 8, 8]}


# -- loss terms against hand-computed values -----------------------------------------------------------
def test_gaussian_kl_matches_hand_computation():
    mean = torch.tensor([[1.0, 0.0], [0.0, 0.0]])
    logvar = torch.tensor([[0.0, math.log(2.0)], [0.0, 0.0]])
    # per dimension (m² + v − 1 − log v) / 2: 0.5 and (1 − log 2) / 2 for the first image, 0 for the second;
    # summed over dimensions, averaged over the two images
    expected = (0.5 + (1 - math.log(2.0)) / 2) / 2
    assert gaussian_kl(mean, logvar).item() == pytest.approx(expected, rel=1e-6)
    assert gaussian_kl(torch.zeros(4, 3), torch.zeros(4, 3)).item() == 0.0


def test_imq_mmd_matches_hand_computation():
    a = torch.tensor([[0.0], [1.0]])
    k = lambda d2: 2.0 / (2.0 + d2)  # noqa: E731 - C = 2·d·σ²·s = 2 for d = 1, s = 1
    # identical sets: within = 2·k(1) (off-diagonal pairs of each set), across = mean of k over all 4 pairs
    identical = 2 * k(1.0) - 2 * (2 * k(0.0) + 2 * k(1.0)) / 4
    assert identical == pytest.approx(-1 / 3)
    assert imq_mmd(a, a.clone(), scales=[1.0]).item() == pytest.approx(identical, rel=1e-6)
    b = a + 3.0
    shifted = 2 * k(1.0) - 2 * (k(9.0) + k(16.0) + k(4.0) + k(9.0)) / 4
    assert imq_mmd(a, b, scales=[1.0]).item() == pytest.approx(shifted, rel=1e-6)
    assert imq_mmd(a, b, scales=[1.0, 2.0]).item() == pytest.approx(
        shifted + imq_mmd(a, b, scales=[2.0]).item(), rel=1e-6
    )


def test_imq_mmd_separates_shifted_samples():
    generator = torch.Generator().manual_seed(0)
    p, q = (torch.randn(128, 8, generator=generator) for _ in range(2))
    same = imq_mmd(p, q).item()
    shifted = imq_mmd(p, q + 1.0).item()
    assert abs(same) < 0.05 * len(IMQ_SCALES) and shifted > 10 * abs(same)


def test_imq_mmd_gradient_is_finite_for_duplicate_codes():
    codes = torch.zeros(4, 3, requires_grad=True)
    imq_mmd(codes, torch.randn(4, 3)).backward()
    assert torch.isfinite(codes.grad).all()


@pytest.mark.parametrize(
    "call, match",
    [
        (lambda: gaussian_kl(torch.zeros(2, 3), torch.zeros(2, 4)), "one shape"),
        (lambda: gaussian_kl(torch.zeros(3), torch.zeros(3)), "mean"),
        (lambda: imq_mmd(torch.zeros(1, 3), torch.zeros(1, 3)), "at least 2"),
        (lambda: imq_mmd(torch.zeros(4, 3), torch.zeros(4, 2)), "one shape"),
        (lambda: imq_mmd(torch.zeros(4, 3), torch.zeros(4, 3), scales=[0.0]), "scales"),
    ],
)
def test_divergences_refuse_bad_input(call, match):
    with pytest.raises(ValueError, match=match):
        call()


# -- the classic decoder -------------------------------------------------------------------------------
def test_classic_decoder_grows_with_fade_in():
    decoder = ProgressiveClassicDecoder(8, [16, 8, 8], out_channels=1).eval()
    z = torch.randn(3, 8)
    assert [tuple(decoder(z, phase=p).shape) for p in range(3)] == [(3, 1, 4, 4), (3, 1, 8, 8), (3, 1, 16, 16)]
    assert torch.equal(decoder(z), decoder(z, phase=2))
    # alpha = 0: the new block is invisible, the output is the previous phase's image upsampled
    previous = torch.nn.functional.interpolate(decoder(z, phase=1), scale_factor=2.0, mode="nearest")
    assert torch.allclose(decoder(z, phase=2, alpha=0.0), previous, atol=1e-6)
    halfway = decoder(z, phase=2, alpha=0.5)
    assert torch.allclose(halfway, 0.5 * previous + 0.5 * decoder(z, phase=2), atol=1e-6)


@pytest.mark.parametrize(
    "kwargs, match",
    [({"phase": 3}, "phase"), ({"alpha": 1.5}, "alpha"), ({"z": torch.zeros(2, 9)}, "z")],
)
def test_classic_decoder_refuses_bad_input(kwargs, match):
    decoder = ProgressiveClassicDecoder(8, [16, 8, 8], out_channels=1)
    z = kwargs.pop("z", torch.zeros(2, 8))
    with pytest.raises(ValueError, match=match):
        decoder(z, **kwargs)


# -- models --------------------------------------------------------------------------------------------
@pytest.mark.parametrize("name", NAMES)
def test_models_conform(name):
    model = genae.create(name, **TINY)
    report = check_model(model)
    assert "save_load_bit_exact" in report.passed
    assert ("style_capabilities" in report.passed) == name.endswith("-adain")


def test_vae_encoder_mean_and_draws():
    model = genae.create("vae", **TINY).eval()
    x = torch.rand(3, 1, 16, 16) * 2 - 1
    mean, logvar = model.encode_distribution(x)
    assert torch.equal(model.encode(x), mean)
    noise = torch.randn(3, 8, generator=torch.Generator().manual_seed(1))
    assert torch.allclose(model.encoder(x, noise=noise), mean + (0.5 * logvar).exp() * noise)
    with pytest.raises(ValueError, match="noise"):
        model.encoder(x, noise=torch.zeros(3, 7))


@pytest.mark.parametrize("name", ["vae", "wae", "pioneer"])
def test_gaussian_prior_codes_start_at_the_prior_scale(name):
    # Spectral norm (kept for PIONEER's adversarial game on unit-length codes) shrinks codes ~100x; the
    # Gaussian-prior models drop it so their codes can match N(0, I) draws.
    torch.manual_seed(0)
    model = genae.create(name, **TINY).eval()
    with torch.no_grad():
        codes = model.encode(torch.rand(32, 1, 16, 16) * 2 - 1)
    if name == "pioneer":
        assert torch.allclose(codes.norm(dim=1), torch.ones(32), atol=1e-5)
    else:
        assert codes.std().item() > 0.1


def test_bad_configs_are_refused():
    with pytest.raises(ValueError, match="decoder"):
        genae.create("vae", decoder="stylegan")
    with pytest.raises(ValueError, match="channels"):
        genae.create("wae", resolution=16, channels=[8, 8])
    with pytest.raises(ValueError, match="unknown field"):
        genae.create("pioneer", decoder="adain")


# -- training through the shared trainer ----------------------------------------------------------------
def _recipe(model, **options):
    from genae.registry import REGISTRY, import_object

    return import_object(REGISTRY.model_spec(model.architecture).recipe)(model, **options)


# Short runs: VAE/WAE at a higher learning rate than the paper's, so 30 steps of tiny nets show progress.
# Pioneer grows from 4 px; one long first phase keeps these runs at 4 px, and plain L2 reconstruction (not
# the robust loss, whose shape parameters also need steps to settle) shows progress as quickly.
JOINT_OPTIONS = {"batch_size": 16, "encoder_lr": 1e-3, "decoder_lr": 1e-3}
RECIPE_OPTIONS = {"pioneer": {"images_per_phase": 10_000, "fade_images": 0, "batch_sizes": 16, "reconstruction": "l2"}}


def _reconstruction_error(model, images):
    """MSE of held-out reconstructions at the resolution the run trained (4 px for the pioneer runs here)."""
    with torch.no_grad():
        model.eval()
        if model.architecture == "pioneer":
            small = torch.nn.functional.avg_pool2d(images, images.shape[-1] // 4)
            return float((model.decode_at(model.encode_at(small, 0), 0) - small).pow(2).mean())
        return float((model.reconstruct(images) - images).pow(2).mean())


@pytest.fixture(scope="module")
def mini():
    from genae.data import open_dataset

    return open_dataset("fashion-mnist-mini", split="train", resolution=16)


def _train(name, data, out, steps, resume=False, seed=0, model=None):
    from genae.training.trainer import Trainer

    if model is None:
        torch.manual_seed(seed)  # the same initial weights for runs that must agree
        model = genae.create(name, **TINY)
    options = RECIPE_OPTIONS.get(name, JOINT_OPTIONS)
    trainer = Trainer(model, _recipe(model, **options), data, out_dir=out, steps=steps, seed=seed, log_every=1,
                      grid_every=None, checkpoint_every=None, progress=False)
    trainer.fit(resume=resume)
    lines = (out / "metrics.jsonl").read_text().splitlines()
    return model, [__import__("json").loads(line)["losses"] for line in lines]


@pytest.mark.parametrize("name", NAMES)
def test_a_few_steps_lower_the_reconstruction_error(name, mini, tmp_path):
    from genae.data import open_dataset

    held_out = torch.stack([item[0] for item in open_dataset("fashion-mnist-mini", split="test", resolution=16, limit=32)])
    torch.manual_seed(0)
    model = genae.create(name, **TINY)
    before = _reconstruction_error(model, held_out)
    _train(name, mini, tmp_path, steps=30, model=model)
    after = _reconstruction_error(model, held_out)
    assert after < 0.9 * before, f"{name}: held-out reconstruction MSE went from {before:.4f} to {after:.4f}"


@pytest.mark.parametrize("name", ["vae", "wae-adain", "pioneer"])
def test_resume_repeats_the_uninterrupted_run(name, mini, tmp_path):
    whole, whole_log = _train(name, mini, tmp_path / "whole", steps=8)
    _train(name, mini, tmp_path / "parts", steps=4)
    again, parts_log = _train(name, mini, tmp_path / "parts", steps=8, resume=True)
    assert parts_log == whole_log
    for key, value in whole.state_dict().items():
        assert torch.equal(value, again.state_dict()[key]), key


def test_trained_model_round_trips_through_save_and_load(mini, tmp_path):
    model, _ = _train("wae", mini, tmp_path / "run", steps=3)
    loaded = genae.load(tmp_path / "run" / "model")
    assert loaded.architecture == "wae" and loaded.config == model.config
    x = torch.stack([mini[i][0] for i in range(4)])
    assert torch.equal(loaded.reconstruct(x), model.eval().reconstruct(x))


def test_recipes_refuse_bad_options():
    vae = genae.create("vae", **TINY)
    with pytest.raises(ValueError, match="kl_weight"):
        _recipe(vae, kl_weight=-1)
    with pytest.raises(ValueError, match="unknown option"):
        _recipe(vae, mmd_weight=2)
    with pytest.raises(ValueError, match="reconstruction"):
        _recipe(genae.create("wae", **TINY), reconstruction="l3")
    with pytest.raises(ValueError, match="layer_weight"):
        _recipe(genae.create("pioneer", **TINY), layer_weight=1.0)


def test_wae_mmd_weight_default_depends_on_the_decoder():
    assert _recipe(genae.create("wae", **TINY)).mmd_weight == 2.0
    assert _recipe(genae.create("wae-adain", **TINY)).mmd_weight == 4.0


# -- bundled weights -----------------------------------------------------------------------------------
@pytest.mark.parametrize("name", NAMES)
def test_bundled_weights_load_offline_and_reconstruct(name):
    from genae.data import open_dataset

    pretrained = f"{name}-fashion-mnist-32"
    assert pretrained in genae.list_pretrained()
    model = genae.load(pretrained)
    assert model.architecture == name and model.image_shape == (1, 32, 32)
    assert "fashion-mnist" in model.card["dataset"].lower() and model.card["metrics"]
    test = torch.stack([item[0] for item in open_dataset("fashion-mnist-mini", split="test", resolution=32, limit=64)])
    mean_image_mse = float((test - test.mean(0)).pow(2).mean())
    with torch.no_grad():
        mse = float((model.reconstruct(test) - test).pow(2).mean())
    assert mse < 0.8 * mean_image_mse, f"{pretrained}: MSE {mse:.4f} vs mean-image {mean_image_mse:.4f}"


# -- the training script -------------------------------------------------------------------------------
def _train_all_script():
    import importlib.util
    from pathlib import Path

    path = Path(__file__).resolve().parents[1] / "benchmarks" / "baselines" / "train_all.py"
    spec = importlib.util.spec_from_file_location("train_all_under_test", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_train_all_keeps_other_models_rows_when_retraining_a_subset(tmp_path, monkeypatch):
    import argparse
    import json

    train_all = _train_all_script()
    monkeypatch.setattr(train_all, "RESULTS", tmp_path / "results")
    monkeypatch.setattr(train_all, "git_commit", lambda: "new-commit")

    def row(mse):
        return {"parameters": 10, "steps": 1, "train_wall_time_s": 1.0, "train_images_per_s": 32.0, "test_mse": mse,
                "mean_image_test_mse": 0.25, "mini_test_mse": mse, "grids": "g"}

    (tmp_path / "results.json").write_text(json.dumps(
        {"command": "train all", "git_commit": "old-commit", "models": {"vae": row(0.1), "pioneer": row(0.4)}}))
    args = argparse.Namespace(images=32, batch_size=32, threads=1, seed=0)
    train_all.write_results({"pioneer": row(0.12)}, args, "train pioneer")

    models = json.loads((tmp_path / "results.json").read_text())["models"]
    assert list(models) == ["vae", "pioneer"]
    assert models["vae"]["test_mse"] == 0.1 and models["vae"]["command"] == "train all"
    assert models["vae"]["git_commit"] == "old-commit"
    assert models["pioneer"]["test_mse"] == 0.12 and models["pioneer"]["command"] == "train pioneer"
    table = (tmp_path / "results.md").read_text()
    assert "| vae |" in table and "| pioneer |" in table and "`train all` (vae)" in table


def test_pioneer_training_options_keep_the_equal_budget():
    train_all = _train_all_script()
    args = train_all.parse_args(["--out", "unused", "--models", "pioneer"])
    options = train_all.recipe_options("pioneer", args)
    model = genae.create("pioneer", **train_all.MODEL_CONFIG)
    schedule = _recipe(model, **options).schedule()
    assert set(schedule.batch_sizes.values()) == {args.batch_size}
    assert schedule.phase_at(args.images - 1).resolution == 32 and schedule.phase_at(0).resolution == 4
    card_note = train_all.RECIPE_NOTES["pioneer"]
    assert "decoder_reconstruction_weight" in card_note and "NOT the paper's" in card_note


def test_size_variants_compact_by_default_paper_scale_by_name():
    """timm-style names: ``vae`` is the bundled network's size (trains in minutes on a CPU), ``vae-paper`` the
    automodulator paper's widths; both at any resolution, and the bundled weights still load."""
    from genae_plugins.automodulator.config import COMPACT_DECODER, COMPACT_ENCODER

    compact, paper = genae.create("vae", device="meta"), genae.create("vae-paper", device="meta")
    assert compact.config.decoder_widths == list(COMPACT_DECODER[:4]) and compact.latent_dim == 128
    assert compact.config.encoder_widths == list(COMPACT_ENCODER[:4])
    assert paper.config.decoder_widths == [512] * 4 and paper.latent_dim == 512
    n_compact = sum(p.numel() for p in compact.parameters())
    assert n_compact < 2_000_000 < 40_000_000 < sum(p.numel() for p in paper.parameters())
    assert genae.create("vae-adain", device="meta").config.decoder == "adain"
    assert genae.create("vae", resolution=64, device="meta").config.decoder_widths == list(COMPACT_DECODER[:5])
    assert genae.create("automodulator", device="meta").config.channels == "compact"
    assert genae.create("automodulator-paper", device="meta").config.channels == "small"
    assert genae.load("vae-fashion-mnist-32").config.channels == [64, 64, 32, 16]
