"""StyleGAN2 plugin: the converted narrow fixture reproduces rosinality's outputs; a full-width 64 px file in
the same layout converts with every shape inferred; unsafe or foreign files are refused clearly."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

import genae
from genae.cli import main as cli_main
from genae.downloads import WeightsUnavailableError
from genae.testing import check_model
from genae_plugins.stylegan.convert import ConversionError, convert_rosinality, infer_config, load_checkpoint

FIXTURE = Path(__file__).resolve().parents[1].parent / "shared" / "fixtures" / "rosinality-stylegan2"
CHECKPOINT = FIXTURE / "narrow32_g.pt"
REFERENCE = FIXTURE / "narrow32_ref.npz"
needs_fixture = pytest.mark.skipif(not CHECKPOINT.is_file(), reason=f"fixture {FIXTURE} is absent")
TINY_BACKBONE = "regnetx_002"  # a small timm model: the encoder is not what these tests are about

IMAGE_ATOL, W_ATOL = 1e-4, 2e-5


@pytest.fixture(scope="module")
def converted(tmp_path_factory):
    if not CHECKPOINT.is_file():
        pytest.skip(f"fixture {FIXTURE} is absent")
    out = tmp_path_factory.mktemp("sg") / "narrow32"
    assert cli_main(["convert", "stylegan2", str(CHECKPOINT), str(out), "--encoder-backbone", TINY_BACKBONE]) == 0
    return genae.load(out)


@pytest.fixture(scope="module")
def ref():
    return {k: torch.from_numpy(v) for k, v in np.load(REFERENCE).items()}


def _close(actual, expected, atol=IMAGE_ATOL):
    torch.testing.assert_close(actual, expected, rtol=0, atol=atol)


@needs_fixture
def test_shapes_are_inferred(converted):
    cfg = converted.config
    assert (cfg.resolution, cfg.latent_dim, cfg.n_mlp, cfg.channels, cfg.channels_in) == (32, 64, 2, [32] * 4, 3)
    assert converted.decoder.num_styles == 8 and len(converted.decoder.noise_shapes) == 7


@needs_fixture
@pytest.mark.numerics
def test_mapping_and_w_and_wplus_images_match_the_reference(converted, ref):
    with torch.no_grad():
        w = converted.mapping(ref["z"])
        _close(w, ref["w"], W_ATOL)
        _close(converted.mapping(ref["z2"]), ref["w2"], W_ATOL)
        n = converted.decoder.num_styles
        _close(converted.decoder.forward_styles([w] * n), ref["img"])
        _close(converted.decoder.forward_styles([ref["w"]] * n), ref["img_w"])
        _close(converted.decoder.forward_styles(list(ref["wplus"].unbind(1))), ref["img_wplus"])


@needs_fixture
@pytest.mark.numerics
def test_truncation_mixing_and_mean_latent(converted, ref):
    with torch.no_grad():
        w, w2 = converted.mapping(ref["z"]), converted.mapping(ref["z2"])
        n = converted.decoder.num_styles
        for center in (None, ref["mean_latent"]):  # the stored latent_avg equals the reference mean_latent
            _close(converted.decoder.forward_styles([converted.truncate(w, 0.7, center)] * n), ref["img_trunc"])
        styles = converted.mix_styles([w, w2], [(0, int(ref["inject_index"])), None])
        _close(torch.stack(styles, 1), ref["latent_mix"], W_ATOL)
        _close(converted.decoder.forward_styles(styles), ref["img_mix"])
    _close(converted.w_avg, ref["mean_latent"][0], W_ATOL)
    assert converted.mean_w(64).shape == (1, 64) and torch.equal(converted.mean_w(64), converted.mean_w(64))


@needs_fixture
def test_each_layer_matters(converted, ref):
    """Noise strengths and biases are live: zeroing one changes the image far beyond the tolerance."""
    w = ref["w"][:2]
    n = converted.decoder.num_styles
    with torch.no_grad():
        before = converted.decoder.forward_styles([w] * n)
        layer = converted.decoder.convs[3]
        for param in (layer.noise.weight, layer.activate.bias):
            saved = param.clone()
            param.zero_()
            assert float((converted.decoder.forward_styles([w] * n) - before).abs().max()) > 100 * IMAGE_ATOL
            param.copy_(saved)


@needs_fixture
def test_sampling_and_inversion_run_in_w(converted):
    with torch.no_grad():
        images = converted.sample(2, generator=torch.Generator().manual_seed(0))
    assert images.shape == (2, 3, 32, 32) and float(images.abs().max()) <= 1
    res = genae.invert(converted, images, space="w+", steps=5, init="mean")
    assert res.noise is not None and [tuple(n.shape[-2:]) for n in res.noise] == converted.decoder.noise_shapes
    assert res.latents.shape == (2, 8, 64)


def _rosinality_state(size: int, style_dim: int, n_mlp: int, widths: list[int], seed: int = 0) -> dict:
    """A g_ema state dict in rosinality's layout, written from the fixture README's key table (not from genae)."""
    g = torch.Generator().manual_seed(seed)

    def rand(*shape):
        return torch.randn(*shape, generator=g)

    kernel = torch.outer(torch.tensor([1.0, 3, 3, 1]), torch.tensor([1.0, 3, 3, 1])) / 64 * 4
    state = {}
    for k in range(1, n_mlp + 1):
        state[f"style.{k}.weight"], state[f"style.{k}.bias"] = rand(style_dim, style_dim) * 100, rand(style_dim) * 10

    def styled(prefix, c_in, c_out, up):
        state[f"{prefix}.conv.weight"] = rand(1, c_out, c_in, 3, 3)
        if up:
            state[f"{prefix}.conv.blur.kernel"] = kernel.clone()
        state[f"{prefix}.conv.modulation.weight"] = rand(c_in, style_dim)
        state[f"{prefix}.conv.modulation.bias"] = 1 + 0.1 * rand(c_in)
        state[f"{prefix}.noise.weight"] = 0.1 * rand(1)
        state[f"{prefix}.activate.bias"] = 0.1 * rand(c_out)

    def to_rgb(prefix, c_in, up):
        state[f"{prefix}.bias"] = 0.1 * rand(1, 3, 1, 1)
        if up:
            state[f"{prefix}.upsample.kernel"] = kernel.clone()
        state[f"{prefix}.conv.weight"] = rand(1, 3, c_in, 1, 1)
        state[f"{prefix}.conv.modulation.weight"] = rand(c_in, style_dim)
        state[f"{prefix}.conv.modulation.bias"] = 1 + 0.1 * rand(c_in)

    state["input.input"] = rand(1, widths[0], 4, 4)
    styled("conv1", widths[0], widths[0], up=False)
    to_rgb("to_rgb1", widths[0], up=False)
    for b in range(len(widths) - 1):
        styled(f"convs.{2 * b}", widths[b], widths[b + 1], up=True)
        styled(f"convs.{2 * b + 1}", widths[b + 1], widths[b + 1], up=False)
    for b in range(len(widths) - 1):
        to_rgb(f"to_rgbs.{b}", widths[b + 1], up=True)
    for i in range(2 * len(widths) - 1):
        side = 4 * 2 ** ((i + 1) // 2)
        state[f"noises.noise_{i}"] = rand(1, 1, side, side)
    return state


@pytest.mark.slow
def test_full_width_64px_checkpoint_converts_and_round_trips(tmp_path):
    """StyleGAN2's own widths at 64 px (512 channels, 8 mapping layers, 512-d styles), no latent_avg."""
    state = _rosinality_state(64, 512, 8, [512] * 5)
    path = tmp_path / "full64.pt"
    torch.save({"g_ema": state, "g": {k: v.clone() for k, v in state.items()}}, path)
    cfg = infer_config(load_checkpoint(path)["g_ema"])
    assert (cfg.resolution, cfg.latent_dim, cfg.n_mlp, cfg.channels, cfg.channel_multiplier) == (64, 512, 8, None, 2)
    model = genae.load(convert_rosinality(path, tmp_path / "out", encoder_backbone=TINY_BACKBONE))
    assert model.decoder.num_styles == 10
    weights = model.state_dict()
    for key, tensor in state.items():
        if key.endswith("kernel"):
            continue
        mine = weights[("prior.mapping." + key[6:]) if key.startswith("style.") else "decoder." + key]
        assert torch.equal(mine, tensor), key
    with torch.no_grad():  # no latent_avg in the file: the mean w was computed through the mapping
        torch.testing.assert_close(model.w_avg, model.mean_w(4096)[0])
        x = model.sample(1, generator=torch.Generator().manual_seed(0))
    assert x.shape == (1, 3, 64, 64) and float(x.std()) > 0


def test_pickled_training_args_are_refused_in_one_line_with_a_safe_strip_recipe(tmp_path, capsys):
    """Issue 25 item 16: one line naming the file; --debug adds a recipe that runs nothing from the file."""
    import argparse
    import subprocess
    import sys

    path = tmp_path / "train.pt"
    torch.save({"g_ema": _rosinality_state(8, 8, 1, [4, 4]), "args": argparse.Namespace(size=8)}, path)
    with pytest.raises(ConversionError, match=r"train\.pt: holds pickled Python objects besides tensors "
                                              r"\(argparse\.Namespace; .*does not unpickle") as caught:
        load_checkpoint(path)
    assert "\n" not in str(caught.value) and "weights_only=False" not in str(caught.value)
    detail = caught.value.detail
    assert "weights_only=True" in detail and "only for a file you trust" in detail

    assert cli_main(["convert", "stylegan2", str(path), str(tmp_path / "out")]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "train.pt" in err and "--debug" in err
    assert cli_main(["--debug", "convert", "stylegan2", str(path), str(tmp_path / "out")]) == 1
    err = capsys.readouterr().err
    recipe = next(line.strip() for line in err.splitlines() if line.strip().startswith("python -c"))
    assert "add_safe_globals([argparse.Namespace])" in recipe and "weights_only=True" in recipe

    code = recipe[len('python -c "'):-1]  # the recipe as printed, run as the user would run it
    subprocess.run([sys.executable, "-c", code], check=True, cwd=tmp_path, timeout=300)
    stripped = load_checkpoint(tmp_path / "train.pt.g_ema.pt")
    assert set(stripped) == {"g_ema"}


@pytest.mark.parametrize("content, match", [
    ({"g": {}}, "g_ema"),
    ({"g_ema": {"style.1.weight": torch.zeros(4, 4)}}, "to_rgbs"),
])
def test_foreign_files_are_refused(tmp_path, content, match):
    path = tmp_path / "x.pt"
    torch.save(content, path)
    with pytest.raises(ConversionError, match=match):
        convert_rosinality(path, tmp_path / "out")
    with pytest.raises(FileNotFoundError):
        load_checkpoint(tmp_path / "missing.pt")
    text = tmp_path / "notes.pt"
    text.write_text("# not a checkpoint")
    with pytest.raises(ConversionError, match=r"notes\.pt: not a readable PyTorch checkpoint"):
        load_checkpoint(text)


def test_wrong_shape_is_named(tmp_path):
    state = _rosinality_state(8, 8, 1, [4, 4])
    state["convs.1.conv.modulation.weight"] = torch.zeros(5, 8)
    path = tmp_path / "bad.pt"
    torch.save({"g_ema": state}, path)
    with pytest.raises(ConversionError, match=r"convs\.1\.conv\.modulation\.weight"):
        convert_rosinality(path, tmp_path / "out", encoder_backbone=TINY_BACKBONE)


def test_fresh_model_conforms():
    model = genae.create("stylegan2", resolution=16, latent_dim=16, n_mlp=2, channels=[8, 8, 8], channels_in=1,
                         encoder_backbone=TINY_BACKBONE)
    report = check_model(model)
    assert not report.failed and "style_capabilities" in report.passed
    with pytest.raises(ValueError, match="encoder_backbone"):
        genae.create("stylegan2", resolution=16, channels=[8, 8, 8], encoder_backbone="no-such-net")
    with pytest.raises(ValueError, match="channels"):
        genae.create("stylegan2", resolution=16, channels=[8, 8])


def test_public_generators_are_listed_and_explain_themselves_offline(tmp_path, monkeypatch):
    names = genae.list_pretrained("stylegan2-*")
    assert {"stylegan2-ffhq-1024", "stylegan2-lsun-church-256", "stylegan2-lsun-car-512",
            "stylegan2-lsun-cat-256"} <= set(names)
    monkeypatch.setenv("GENAE_HOME", str(tmp_path))
    monkeypatch.delenv("GENAE_STYLEGAN2_BASE_URL", raising=False)
    with pytest.raises(WeightsUnavailableError, match=r"nvlabs-fi-cdn\.nvidia\.com/stylegan2/networks/stylegan2-ffhq"
                                                      r"-config-f\.pkl.*genae convert stylegan2 stylegan2-ffhq-config-f\.pt"):
        genae.load("stylegan2-ffhq")
    monkeypatch.setenv("GENAE_STYLEGAN2_BASE_URL", "http://127.0.0.1:9")
    monkeypatch.setenv("GENAE_OFFLINE", "1")
    with pytest.raises(WeightsUnavailableError, match=r"offline.*http://127\.0\.0\.1:9/stylegan2-cat-config-f\.pt"):
        genae.load("stylegan2-lsun-cat-256")


@needs_fixture
def test_public_generator_downloads_converts_and_caches(tmp_path, monkeypatch, file_server):
    """Through a local file server standing in for a mirror of rosinality-format files."""
    import shutil

    from genae_plugins.stylegan import PublicGenerator
    from genae_plugins.stylegan.official import fetch_public

    entry = PublicGenerator("stylegan2-fixture-32", "narrow32_g.pkl", "random-init", 32)
    shutil.copy(CHECKPOINT, file_server.folder / entry.converted_file)
    folder = fetch_public(entry, cache_dir=tmp_path / "cache", base_url=file_server.url, offline=False,
                          progress=False)
    model = genae.load(folder)
    assert model.card["name"] == "stylegan2-fixture-32" and model.resolution == 32
    assert fetch_public(entry, cache_dir=tmp_path / "cache", offline=True) == folder  # cached: no server needed


def _generated_dataset(model, n, seed):
    with torch.no_grad():
        model.eval()
        w = model.prior.sample(n, generator=torch.Generator().manual_seed(seed))
        return torch.utils.data.TensorDataset(model.decoder.forward_styles([w] * model.decoder.num_styles).clamp(-1, 1))


@needs_fixture
def test_inversion_encoder_trains_with_the_shared_trainer(converted, tmp_path):
    """The learned encoder of the (frozen) fixture generator, on the generator's own samples."""
    from genae.training import Trainer
    from genae_plugins.stylegan.recipe import InversionEncoderRecipe

    model = genae.load(converted.save_pretrained(tmp_path / "narrow32"))
    frozen = {k: v.clone() for k, v in model.state_dict().items() if not k.startswith("encoder.")}
    held_out = torch.stack([x for (x,) in _generated_dataset(model, 16, seed=99)])

    def held_out_mse():
        with torch.no_grad():
            model.eval()
            out = model.decoder.forward_styles(list(model.encode_styles(held_out).unbind(1)))
            return float((out - held_out).square().mean())

    before = held_out_mse()
    recipe = InversionEncoderRecipe(model, perceptual="fashion-mnist-features", perceptual_weight=0.1,
                                    latent_adversarial_weight=0.1, progressive_every=4, lr=3e-4, batch_size=8)
    result = Trainer(model, recipe, _generated_dataset(model, 128, seed=1), out_dir=tmp_path / "run", steps=40,
                     grid_every=None, checkpoint_every=None, progress=False).fit()
    assert {"image", "delta", "latent_g", "latent_d", "r1"} <= set(result.losses)
    assert int(model.encoder.active_offsets) == model.decoder.num_styles  # 40 steps, one more slot every 4
    for key, tensor in model.state_dict().items():  # the generator did not move
        if key in frozen:
            assert torch.equal(tensor, frozen[key]), key
    assert held_out_mse() < 0.8 * before
