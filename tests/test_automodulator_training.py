"""The automodulator recipe on a tiny model: loss terms, switches, pool, training progress and exact resume."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import torch

import genae
from genae.data import open_dataset
from genae.losses import empirical_kl
from genae.testing.step import DirectStep
from genae.training.recipe import Phase
from genae.training.trainer import Trainer
from genae_plugins.automodulator.config import AutomodulatorConfig
from genae_plugins.automodulator.losses import AutomodulatorLosses, LossWeights, mixed_styles
from genae_plugins.automodulator.model import Automodulator
from genae_plugins.automodulator.recipe import AutomodulatorRecipe, HistoryPool

RESOLUTION = 8


def tiny_model(seed: int = 0, support_block: int | None = None) -> Automodulator:
    torch.manual_seed(seed)
    config = AutomodulatorConfig(resolution=RESOLUTION, channels_in=1, latent_dim=16,
                                 channels=[16, 16], encoder_channels=[16, 16], support_block=support_block)
    model = Automodulator(config)
    model.architecture = "automodulator"
    return model


@pytest.fixture(scope="module")
def mini_train() -> Any:
    return open_dataset("fashion-mnist-mini", split="train", resolution=RESOLUTION)


def batch(dataset: Any, n: int = 16) -> torch.Tensor:
    return torch.stack([dataset[i][0] for i in range(n)])


STABLE = Phase(index=1, resolution=RESOLUTION, alpha=1.0, batch_size=16, lr=5e-4, fading=False)
FADING = Phase(index=1, resolution=RESOLUTION, alpha=0.5, batch_size=16, lr=5e-4, fading=True)


def test_mixed_styles_rows_and_split() -> None:
    a, b = torch.zeros(4, 2), torch.ones(4, 2)
    styles = mixed_styles(a, b, split=1, num_styles=3, rows=2)
    assert styles[0] is a
    for block in (1, 2):
        assert styles[block][:2].eq(1).all() and styles[block][2:].eq(0).all()
    with pytest.raises(ValueError, match="split"):
        mixed_styles(a, b, split=4, num_styles=3)


def test_encoder_terms_follow_the_formula(mini_train: Any) -> None:
    """KL, reconstruction and the clamped gap, recomputed from the primitives on the same codes."""
    model = tiny_model()
    images = batch(mini_train)
    recon = lambda residual: (residual**2).mean()  # noqa: E731 - L2 keeps the check simple
    weights = LossWeights(kl=0.1, gap=0.1, margin=0.01, margin_from_phase=0, reconstruction=0.2, stable_boost=1.5)
    losses = AutomodulatorLosses(model, weights, recon)
    generator = torch.Generator().manual_seed(0)
    fakes = losses.sample_fakes(16, 4, STABLE, generator, torch.device("cpu"))
    model.eval()  # no noise, no power iteration: the recomputation below sees the same networks
    terms, stats = losses.encoder_terms(images, fakes, STABLE, generator)
    with torch.no_grad():
        z = model.encode_at(images, 1)
        kl_real, kl_fake = empirical_kl(z), empirical_kl(model.encode_at(fakes, 1))
        residual = model.decode_styles_at([z, z], 1) - images
    assert terms["kl_real"].item() == pytest.approx(0.1 * kl_real.item(), rel=1e-5)
    assert terms["reconstruction"].item() == pytest.approx(0.2 * 1.5 * (residual**2).mean().item(), rel=1e-5)
    gap = 0.1 * (kl_real - kl_fake).item()
    assert terms["kl_gap"].item() == pytest.approx(min(max(gap, -0.01), 0.005), rel=1e-5)
    assert stats["kl_fake"] == pytest.approx(kl_fake.item(), rel=1e-5)
    # while fading, the reconstruction weight is not boosted
    fading_terms, _ = losses.encoder_terms(images, fakes, FADING, generator)
    assert fading_terms["reconstruction"].item() < terms["reconstruction"].item()


def test_encoder_step_leaves_decoder_without_gradients(mini_train: Any) -> None:
    model = tiny_model()
    losses = AutomodulatorLosses(model, LossWeights(), lambda r: r.abs().mean())
    generator = torch.Generator().manual_seed(0)
    fakes = losses.sample_fakes(8, 2, STABLE, generator, torch.device("cpu"))
    terms, _ = losses.encoder_terms(batch(mini_train, 8), fakes, STABLE, generator)
    sum(terms.values()).backward()
    assert all(p.grad is None for p in model.decoder.parameters())
    assert any(p.grad is not None for p in model.encoder.parameters())
    assert all(p.requires_grad for p in model.decoder.parameters())  # unfrozen again


def test_decoder_step_terms_and_gradients() -> None:
    model = tiny_model()
    losses = AutomodulatorLosses(model, LossWeights(latent=0.5, layer=2.0), lambda r: r.abs().mean())
    terms, stats = losses.decoder_terms(8, 4, STABLE, torch.Generator().manual_seed(0), torch.device("cpu"))
    assert set(terms) == {"fake_kl", "latent", "layer"}
    assert 0 <= terms["latent"].item() <= 0.5 * 2
    assert terms["layer"].item() > 0
    sum(terms.values()).backward()
    assert all(p.grad is None for p in model.encoder.parameters())
    assert any(p.grad is not None for p in model.decoder.parameters())
    # nothing to mix at phase 0: no layer term
    phase0 = Phase(0, 4, 1.0, 8, 5e-4, False)
    terms0, _ = losses.decoder_terms(8, 4, phase0, torch.Generator().manual_seed(0), torch.device("cpu"))
    assert "layer" not in terms0 and "latent" in terms0


def test_history_pool_keeps_and_returns_old_fakes() -> None:
    pool = HistoryPool(4)
    generator = torch.Generator().manual_seed(0)
    first = torch.arange(4.0).reshape(4, 1, 1, 1)
    assert torch.equal(pool.query(first, generator), first)  # filling: returned as is
    returned = pool.query(first + 100, generator)
    swapped = returned.flatten() < 100
    assert swapped.any() and (~swapped).any()  # about half come from the history
    state = pool.state_dict()
    restored = HistoryPool(4)
    restored.load_state_dict(state)
    assert torch.equal(restored.images, pool.images)
    pool.query(torch.zeros(2, 1, 2, 2), generator)  # a new resolution empties the pool
    assert pool.count == 2


def _trainer(model: Automodulator, out: Path, data: Any, steps: int, seed: int = 3, **options: Any) -> Trainer:
    defaults = {"images_per_phase": 32, "fade_images": 16, "batch_sizes": 8, "pool_size": 12, "monitor_every": 3}
    recipe = AutomodulatorRecipe(model, **{**defaults, **options})
    return Trainer(model, recipe, data, out_dir=out, steps=steps, log_every=1, grid_every=None,
                   checkpoint_every=None, progress=False, seed=seed)


def _logged_terms(out: Path) -> set[str]:
    lines = (out / "metrics.jsonl").read_text().splitlines()
    return set(json.loads(lines[-1])["losses"])


def test_every_term_is_logged_and_switching_off_removes_it(tmp_path: Path, mini_train: Any) -> None:
    # 7 steps of 8 images: phase 0 for 4 steps, then phase 1 (fading, then stable)
    _trainer(tiny_model(), tmp_path / "full", mini_train, 7, invariance=True, decoder_reconstruction_weight=0.5).fit()
    full = _logged_terms(tmp_path / "full")
    for term in ("enc/kl_real", "enc/reconstruction", "enc/kl_gap", "enc/invariance", "dec/fake_kl",
                 "dec/latent", "dec/layer", "dec/reconstruction", "robust/alpha_mean", "influence/block1"):
        assert term in full, term
    options = {"kl_weight": 0, "gap_weight": 0, "layer_weight": 0, "latent_weight": 0, "reconstruction": "l1"}
    _trainer(tiny_model(), tmp_path / "ablated", mini_train, 7, **options).fit()
    ablated = _logged_terms(tmp_path / "ablated")
    for term in ("enc/kl_real", "enc/kl_gap", "enc/invariance", "dec/latent", "dec/layer", "dec/reconstruction",
                 "robust/alpha_mean"):
        assert term not in ablated, term
    assert {"enc/reconstruction", "dec/fake_kl"} <= ablated


@pytest.mark.numerics
def test_training_reduces_reconstruction_error(tmp_path: Path, mini_train: Any) -> None:
    """Sixty adversarial steps are chaotic: another CPU's kernels give another trajectory. So no single run
    is asserted; over four seeds, every run must improve and the mean error ratio must halve.

    Measured after/before ratios of seeds 0-3 (mean; worst seed), OMP_NUM_THREADS 1 / 2:
    AVX-512 kernels 0.33; 0.36 / 0.34; 0.43; emulated AVX2 (ATEN_CPU_CAPABILITY=avx2 ONEDNN_MAX_CPU_ISA=AVX2)
    0.41; 0.58 / 0.32; 0.40. Over seeds 0-7 in those four settings (32 runs) the worst ratio was 0.84.
    """
    images = batch(mini_train, 64)
    ratios = []
    for seed in range(4):
        model = tiny_model(seed)
        before = _reconstruction_error(model, images)
        _trainer(model, tmp_path / f"seed{seed}", mini_train, 60, batch_sizes=16, images_per_phase=160,
                 fade_images=80, lr=2e-3, seed=3 + seed).fit()
        ratios.append(_reconstruction_error(model, images) / before)
    assert max(ratios) < 1.0, ratios
    assert sum(ratios) / len(ratios) < 0.6, ratios


def _reconstruction_error(model: Automodulator, images: torch.Tensor) -> float:
    model.eval()
    with torch.no_grad():
        return float(((model.reconstruct(images) - images) ** 2).mean())


def test_resume_is_exact(tmp_path: Path, mini_train: Any) -> None:
    """6 + 6 steps through a checkpoint equal 12 straight steps: weights, EMA, robust loss, pool, log."""
    straight = _trainer(tiny_model(), tmp_path / "straight", mini_train, 12)
    straight.fit()
    _trainer(tiny_model(), tmp_path / "split", mini_train, 6).fit()
    resumed = _trainer(tiny_model(), tmp_path / "split", mini_train, 12)
    resumed.fit(resume=True)
    a, b = straight.state_dict(), resumed.state_dict()
    for name, tensor in a["model"].items():
        assert torch.equal(tensor, b["model"][name]), name
    for name, tensor in a["ema"]["shadow"]["decoder"].items():
        assert torch.equal(tensor, b["ema"]["shadow"]["decoder"][name]), name
    for name, tensor in a["recipe_modules"]["reconstruction"].items():
        assert torch.equal(tensor, b["recipe_modules"]["reconstruction"][name]), name
    pool_a, pool_b = a["recipe"]["pool"], b["recipe"]["pool"]
    assert pool_a["count"] == pool_b["count"] > 0 and torch.equal(pool_a["images"], pool_b["images"])
    assert a["recipe"]["influence"] == b["recipe"]["influence"]
    log_a = (tmp_path / "straight" / "metrics.jsonl").read_text().splitlines()
    log_b = (tmp_path / "split" / "metrics.jsonl").read_text().splitlines()
    assert [json.loads(x)["losses"] for x in log_a] == [json.loads(x)["losses"] for x in log_b]


def test_recipe_rejects_bad_options() -> None:
    model = tiny_model()
    with pytest.raises(ValueError, match="unknown option"):
        AutomodulatorRecipe(model, kl_wieght=0.1)
    with pytest.raises(ValueError, match="reconstruction"):
        AutomodulatorRecipe(model, reconstruction="l3")
    with pytest.raises(ValueError, match="mix_fraction"):
        AutomodulatorRecipe(model, mix_fraction=1.5)


def test_bf16_step_logs_float32_terms_close_to_the_float32_step(mini_train: Any) -> None:
    """bf16 autocast changes the networks' arithmetic, not the recipe: terms stay close and finite."""
    images = batch(mini_train)
    logs = {}
    for name in ("fp32", "bf16"):
        model = tiny_model()
        recipe = AutomodulatorRecipe(model, monitor_every=0, pool_size=0)
        logs[name] = recipe.train_step(images, DirectStep(recipe.build_optimizers(), STABLE, step=1,
                                                          bf16=name == "bf16"))
    assert logs["fp32"].keys() == logs["bf16"].keys()
    for key in ("enc/kl_real", "enc/reconstruction", "dec/fake_kl", "dec/latent"):
        assert logs["bf16"][key] == pytest.approx(logs["fp32"][key], rel=0.05, abs=1e-3), key


def test_invariance_with_a_support_block_follows_eq_10_11(mini_train: Any) -> None:
    """Blocks below the cut from the image itself, the support block and above from its mirror."""
    model = tiny_model(support_block=1).eval()
    images = batch(mini_train, 8)
    recon = lambda residual: (residual**2).mean()  # noqa: E731
    weights = LossWeights(kl=0, gap=0, reconstruction=0, invariance=0.7)
    losses = AutomodulatorLosses(model, weights, recon, invariance_split=2)
    terms, _ = losses.encoder_terms(images, None, STABLE, torch.Generator().manual_seed(0))
    assert set(terms) == {"invariance"}
    flipped = torch.flip(images, dims=[3])
    with torch.no_grad():
        z, z_flip = model.encode_at(images, 1), model.encode_at(flipped, 1)
        own = model.decode_styles_at([z, z, z_flip], 1)
        mirrored = model.decode_styles_at([z_flip, z_flip, z], 1)
    expected = 0.7 * 0.5 * (recon(own - images) + recon(mirrored - flipped))
    assert terms["invariance"].item() == pytest.approx(expected.item(), rel=1e-5)


def test_flip_invariance_training_with_a_support_block(tmp_path: Path, mini_train: Any) -> None:
    model = tiny_model(support_block=1)
    _trainer(model, tmp_path, mini_train, 7, invariance=True, invariance_split=2).fit()
    terms = _logged_terms(tmp_path)
    assert {"enc/invariance", "influence/block0", "influence/block1", "influence/block2"} <= terms
    assert "influence/block3" not in terms  # 3 style slots: 4 px, 8 px and the 8 px support block
    loaded = genae.load(tmp_path / "model")
    assert loaded.config.support_block == 1 and loaded.decoder.num_styles == 3
