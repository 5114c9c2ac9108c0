"""NVIDIA StyleGAN2-ADA pickles as genae stylegan2 models: the issue's calls against the fixtures' reference
outputs (NVIDIA's code, atol 1e-4, mapping 2e-5), genae.load of a .pkl, the registry entries, the download path
through a loopback server, StyleGAN3 and discriminator reports, and generic tools on a converted model."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pytest
import torch
from click.testing import CliRunner
from test_nvidia_pickle import Persistent, module_state, write_snapshot

import genae
from genae.cli import cli
from genae.cli import main as cli_main
from genae.downloads import WeightsUnavailableError
from genae.testing import check_model
from genae_plugins.stylegan.convert import ConversionError
from genae_plugins.stylegan.nvidia import convert_nvidia, discriminator_key, genae_key

FIXTURE = Path(__file__).resolve().parents[1].parent / "shared" / "fixtures" / "nvidia-stylegan2-ada"
needs_fixture = pytest.mark.skipif(not (FIXTURE / "ada_narrow32.pkl").is_file(), reason=f"fixture {FIXTURE} is absent")
TINY_BACKBONE = "regnetx_002"
IMAGE_ATOL, W_ATOL = 1e-4, 2e-5


def _close(actual, expected, atol=IMAGE_ATOL):
    torch.testing.assert_close(actual, expected, rtol=0, atol=atol)


def _reference(name):
    return {k: torch.from_numpy(v) for k, v in np.load(FIXTURE / f"{name}_ref.npz").items()}


@pytest.fixture(scope="module")
def narrow(tmp_path_factory):
    if not (FIXTURE / "ada_narrow32.pkl").is_file():
        pytest.skip(f"fixture {FIXTURE} is absent")
    out = tmp_path_factory.mktemp("ada") / "narrow32"
    result = CliRunner().invoke(cli, ["convert", "stylegan2", str(FIXTURE / "ada_narrow32.pkl"), str(out),
                                      "--encoder-backbone", TINY_BACKBONE])
    assert result.exit_code == 0, result.output
    assert "not converted: G (Generator: the raw training generator" in result.output
    assert "augment_pipe (empty (None) in the file)" in result.output and "Discriminator" not in result.output
    return genae.load(out)


@pytest.fixture(scope="module")
def cond(tmp_path_factory):
    if not (FIXTURE / "ada_cond16.pkl").is_file():
        pytest.skip(f"fixture {FIXTURE} is absent")
    out = convert_nvidia(FIXTURE / "ada_cond16.pkl", tmp_path_factory.mktemp("ada") / "cond16",
                         encoder_backbone=TINY_BACKBONE)
    return genae.load(out)


@needs_fixture
@pytest.mark.numerics
def test_narrow32_calls_as_written(narrow):
    ref = _reference("ada_narrow32")
    m = narrow
    with torch.no_grad():
        w = m.mapping(ref["z"])
        _close(w, ref["ws"][:, 0], W_ATOL)
        _close(m.decoder.forward_styles([w] * m.decoder.num_styles, noise_mode="const"), ref["img_const"])
        _close(m.decoder.forward_styles(list(ref["ws_mixed"].unbind(1)), noise_mode="const"), ref["img_mixed_const"])
        _close(m.decoder.forward_styles([w] * m.decoder.num_styles, noise_mode="none"), ref["img_none"])
        _close(m.decoder.forward_styles([m.mapping(ref["z"])] * m.decoder.num_styles, noise_mode="const"),
               ref["img_full_const"])
        _close(m.truncate(w, 0.7), ref["ws_psi07"][:, 0], W_ATOL)
        _close(m.truncate(w, 0.5, cutoff=4), ref["ws_psi05_cut4"], W_ATOL)
    _close(m.w_avg, ref["w_avg"], W_ATOL)
    assert m.decoder.num_styles == int(ref["num_ws"])
    with torch.no_grad():
        _close(m.discriminator(ref["img_const"]), ref["d_logits"])


@needs_fixture
def test_narrow32_shapes_clamp_and_card(narrow):
    cfg = narrow.config
    assert (cfg.resolution, cfg.channels_in, cfg.latent_dim, cfg.z_dim, cfg.n_mlp, cfg.channels, cfg.conv_clamp,
            cfg.c_dim) == (32, 3, 64, 64, 2, [64, 64, 32, 16], 256, 0)
    card = narrow.card
    assert card["source_sha256"] == hashlib.sha256((FIXTURE / "ada_narrow32.pkl").read_bytes()).hexdigest()
    assert "NVIDIA network pickle" in card["source"] and "16, 32 px in float16" in card["precision"]
    assert "D as model.discriminator" in card["conversion"] and "D " not in card["not_converted"]
    styles = [torch.full((1, 64), 1e4)] * narrow.decoder.num_styles
    clamped = [m for m in narrow.decoder.modules() if getattr(m, "clamp", None) == 256]
    assert len(clamped) == 7 + 4  # every conv activation and every ToRGB
    with torch.no_grad():  # each ToRGB is within ±256 and the skip upsampling keeps the bound: 4 blocks × 256
        assert float(narrow.decoder.forward_styles(styles, noise_mode="none").abs().max()) <= 4 * 256
        for module in clamped:
            module.clamp = None
        unclamped = float(narrow.decoder.forward_styles(styles, noise_mode="none").abs().max())
        for module in clamped:
            module.clamp = 256
    assert unclamped > 4 * 256


@needs_fixture
@pytest.mark.numerics
def test_cond16_conditional_mapping_and_labels(cond):
    ref = _reference("ada_cond16")
    with torch.no_grad():
        _close(cond.mapping(ref["z"], ref["c"]), ref["ws"][:, 0], W_ATOL)
        _close(cond.mapping(ref["z"], [0, 3, 5, 9]), ref["ws"][:, 0], W_ATOL)  # class indices, one-hot inside
        w = cond.mapping(ref["z"], ref["c"])
        _close(cond.decoder.forward_styles([w] * cond.decoder.num_styles, noise_mode="const"), ref["img_const"])
        _close(cond.truncate(w, 0.5, cutoff=4), ref["ws_psi05_cut4"], W_ATOL)
        _close(cond.discriminator(ref["img_const"], ref["c"]), ref["d_logits"])  # conditional: label projection
        images = cond.sample(3, generator=torch.Generator().manual_seed(0), labels=[1, 2, 3])
        g = torch.Generator().manual_seed(5)
        z = cond.prior.draw_z(2, g)
        cut = cond.decoder.forward_styles(list(cond.truncate(cond.mapping(z, [4, 4]), 0.5, cutoff=2).unbind(1)))
        _close(cond.sample(2, torch.Generator().manual_seed(5), labels=[4, 4], truncation=0.5, truncation_cutoff=2),
               cut.clamp(-1, 1))
    assert images.shape == (3, 1, 16, 16) and cond.config.c_dim == 10 and cond.card["precision"].startswith("float32")
    report = check_model(cond)  # a conditional generator keeps every genae contract (random classes by default)
    assert not report.failed, report.failed
    with pytest.raises(ValueError, match=r"c: this generator is class-conditional \(c_dim=10\)"):
        cond.mapping(ref["z"])
    with pytest.raises(ValueError, match=r"c: expected 4 class indices in \[0, 10\)"):
        cond.mapping(ref["z"], [0, 1, 2, 10])


@needs_fixture
def test_noise_modes(narrow):
    w = [torch.zeros(2, 64)] * narrow.decoder.num_styles
    with torch.no_grad():
        const = narrow.decoder.forward_styles(w, noise_mode="const")
        assert torch.equal(const, narrow.decoder.forward_styles(w))  # eval default: the stored maps
        first, second = (narrow.decoder.forward_styles(w, noise_mode="random") for _ in range(2))
        assert not torch.equal(first, second)
    with pytest.raises(ValueError, match="noise_mode: expected one of"):
        narrow.decoder.forward_styles(w, noise_mode="fixed")


@needs_fixture
def test_genae_load_converts_a_pkl_once_into_the_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("GENAE_HOME", str(tmp_path))
    model = genae.load(str(FIXTURE / "ada_narrow32.pkl"))
    assert model.resolution == 32 and "NVIDIA" in model.card["source"]
    folders = list((tmp_path / "cache" / "converted").iterdir())
    assert len(folders) == 1 and folders[0].name.startswith("nvidia-network-pickle-")
    assert genae.load(FIXTURE / "ada_narrow32.pkl").card == model.card  # second time: from the cache
    assert len(list((tmp_path / "cache" / "converted").iterdir())) == 1
    other = tmp_path / "notes.txt"
    other.write_text("not weights")
    with pytest.raises(ValueError, match=r"notes\.txt: a file, not a genae model folder"):
        genae.load(other)


def test_key_mapping_is_explicit():
    assert genae_key("mapping.fc0.weight") == "prior.mapping.1.weight"
    assert genae_key("mapping.embed.bias") == "prior.mapping.embed.bias"
    assert genae_key("mapping.w_avg") == "prior.w_avg"
    assert genae_key("synthesis.b4.const") == "decoder.input.input"
    assert genae_key("synthesis.b4.conv1.affine.weight") == "decoder.conv1.conv.modulation.weight"
    assert genae_key("synthesis.b4.conv1.noise_const") == "decoder.noises.noise_0"
    assert genae_key("synthesis.b4.torgb.bias") == "decoder.to_rgb1.bias"
    assert genae_key("synthesis.b8.conv0.weight") == "decoder.convs.0.conv.weight"
    assert genae_key("synthesis.b8.conv0.noise_const") == "decoder.noises.noise_1"
    assert genae_key("synthesis.b16.conv1.bias") == "decoder.convs.3.activate.bias"
    assert genae_key("synthesis.b16.conv1.noise_strength") == "decoder.convs.3.noise.weight"
    assert genae_key("synthesis.b16.conv1.noise_const") == "decoder.noises.noise_4"
    assert genae_key("synthesis.b16.torgb.weight") == "decoder.to_rgbs.1.conv.weight"
    assert genae_key("synthesis.b16.resample_filter") is None
    with pytest.raises(ConversionError, match="b8.skip.weight"):
        genae_key("synthesis.b8.skip.weight")
    assert discriminator_key("mapping.fc7.bias") == "discriminator.mapping.8.bias"
    assert discriminator_key("b16.fromrgb.weight") == "discriminator.b16.fromrgb.weight"
    assert discriminator_key("b4.out.bias") == "discriminator.b4.out.bias"
    assert discriminator_key("b16.skip.resample_filter") is None


def _nvidia_generator(z_dim, w_dim, hidden, n_mlp, c_dim, embed, widths, channels, seed=0):
    """A Generator in NVIDIA's pickled layout (records, key names, attributes), written from the fixture README's
    description and NVIDIA's constructor arguments, not from genae."""
    g = torch.Generator().manual_seed(seed)
    resample = torch.outer(torch.tensor([1.0, 3, 3, 1]), torch.tensor([1.0, 3, 3, 1])) / 64

    def rand(*shape):
        return torch.randn(*shape, generator=g)

    def record(class_name, params=(), buffers=(), modules=(), **attributes):
        state = module_state(dict(params), dict(modules), **attributes)
        state["_buffers"] = dict(buffers)
        return Persistent(class_name, state)

    def linear(c_in, c_out, lr=1.0, activation="linear"):
        return record("FullyConnectedLayer", {"weight": rand(c_out, c_in) / lr, "bias": rand(c_out)}.items(),
                      activation=activation, weight_gain=lr / c_in**0.5, bias_gain=lr)

    dims = [z_dim + (embed if c_dim else 0)] + [hidden] * (n_mlp - 1) + [w_dim]
    layers = {f"fc{i}": linear(dims[i], dims[i + 1], 0.01, "lrelu") for i in range(n_mlp)}
    if c_dim:
        layers["embed"] = linear(c_dim, embed)
    mapping = record("MappingNetwork", buffers={"w_avg": rand(w_dim)}.items(), modules=layers.items(),
                     z_dim=z_dim, c_dim=c_dim, w_dim=w_dim, num_layers=n_mlp)

    def conv(c_in, c_out, res, up):
        return record("SynthesisLayer", {"weight": rand(c_out, c_in, 3, 3), "bias": rand(c_out),
                                         "noise_strength": rand(())}.items(),
                      {"noise_const": rand(res, res), "resample_filter": resample}.items(),
                      {"affine": linear(w_dim, c_in)}.items(), resolution=res, up=up, conv_clamp=None,
                      activation="lrelu")

    blocks = {}
    for b, width in enumerate(widths):
        res = 4 * 2**b
        parts = {"conv1": conv(width, width, res, 1),
                 "torgb": record("ToRGBLayer", {"weight": rand(channels, width, 1, 1), "bias": rand(channels)}.items(),
                                 modules={"affine": linear(w_dim, width)}.items(), conv_clamp=None)}
        params = {}
        if b == 0:
            params["const"] = rand(width, 4, 4)
        else:
            parts["conv0"] = conv(widths[b - 1], width, res, 2)
        blocks[f"b{res}"] = record("SynthesisBlock", params.items(), {"resample_filter": resample}.items(),
                                   parts.items(), architecture="skip", use_fp16=False, resolution=res)
    synthesis = record("SynthesisNetwork", modules=blocks.items(), num_ws=2 * len(widths))
    return record("Generator", modules={"mapping": mapping, "synthesis": synthesis}.items(), z_dim=z_dim)


def test_every_shape_is_inferred_from_the_file(tmp_path):
    """Dimensions the fixtures keep equal (z, w, hidden, embed) all differ here, with 8 mapping layers."""
    from test_nvidia_pickle import nvidia_persistence

    from genae.foreign.nvidia_pickle import read_network_pickle

    with nvidia_persistence():
        generator = _nvidia_generator(z_dim=24, w_dim=40, hidden=36, n_mlp=8, c_dim=5, embed=12,
                                      widths=[32, 24, 16], channels=3)
        path = write_snapshot(tmp_path / "odd.pkl", generator)
    model = genae.load(convert_nvidia(path, tmp_path / "out", encoder_backbone=TINY_BACKBONE))
    cfg = model.config
    assert (cfg.z_dim, cfg.latent_dim, cfg.mapping_dim, cfg.n_mlp, cfg.c_dim, cfg.embed_dim, cfg.channels,
            cfg.resolution, cfg.channels_in, cfg.conv_clamp) == (24, 40, 36, 8, 5, 12, [32, 24, 16], 16, 3, None)
    ours = model.state_dict()
    source = read_network_pickle(path).networks["G_ema"].state_dict
    for key, tensor in source.items():
        if genae_key(key) is not None:
            assert torch.equal(ours[genae_key(key)].reshape(tensor.shape), tensor), key
    with torch.no_grad():
        assert model.sample(2, generator=torch.Generator().manual_seed(0), labels=[0, 4]).shape == (2, 3, 16, 16)
    assert not hasattr(model, "discriminator") and "D (empty (None) in the file)" in model.card["not_converted"]


def test_a_discriminator_genae_cannot_match_is_reported_not_converted(tmp_path):
    from test_nvidia_pickle import nvidia_persistence

    with nvidia_persistence():
        generator = _nvidia_generator(z_dim=8, w_dim=8, hidden=8, n_mlp=1, c_dim=0, embed=0, widths=[8, 8],
                                      channels=1)
        block = Persistent("DiscriminatorBlock", module_state(architecture="skip"))
        d = Persistent("Discriminator", module_state(modules={"b8": block, "b4": Persistent("DiscriminatorEpilogue",
                                                                                             module_state())}))
        path = write_snapshot(tmp_path / "skipd.pkl", generator, D=d)
    model = genae.load(convert_nvidia(path, tmp_path / "out", encoder_backbone=TINY_BACKBONE))
    assert not hasattr(model, "discriminator")
    assert "D (Discriminator: not converted: architecture ['skip']" in model.card["not_converted"]


def test_stylegan3_and_other_networks_are_reported(tmp_path):
    synthesis = Persistent("SynthesisNetwork", module_state(modules={
        "input": Persistent("SynthesisInput", module_state()), "L0_36_512": Persistent("SynthesisLayer", module_state())}))
    generator = Persistent("Generator", module_state(modules={"mapping": Persistent("MappingNetwork", module_state()),
                                                             "synthesis": synthesis}))
    path = write_snapshot(tmp_path / "sg3.pkl", generator)
    assert cli_main(["convert", "stylegan2", str(path), str(tmp_path / "out")]) == 1
    with pytest.raises(ConversionError, match="StyleGAN3 generators are not supported yet"):
        convert_nvidia(path, tmp_path / "out")
    path = write_snapshot(tmp_path / "d.pkl", Persistent("Discriminator", module_state()))
    with pytest.raises(ConversionError, match=r"no StyleGAN2 Generator in the pickle \(networks: \{'G': 'Discrim"):
        convert_nvidia(path, tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_published_generators_are_registered_and_explain_themselves_offline(tmp_path, monkeypatch):
    names = set(genae.list_pretrained("stylegan2-ada-*"))
    assert {"stylegan2-ada-ffhq-1024", "stylegan2-ada-metfaces-1024", "stylegan2-ada-afhq-cat-512",
            "stylegan2-ada-afhq-dog-512", "stylegan2-ada-afhq-wild-512", "stylegan2-ada-brecahad-512",
            "stylegan2-ada-cifar10-32"} <= names
    monkeypatch.setenv("GENAE_HOME", str(tmp_path))
    monkeypatch.setenv("GENAE_OFFLINE", "1")
    with pytest.raises(WeightsUnavailableError, match=r"offline\. Download https://nvlabs-fi-cdn\.nvidia\.com/stylegan2-"
                                                      r"ada-pytorch/pretrained/ffhq\.pkl elsewhere, then run: genae "
                                                      r"convert stylegan2 ffhq\.pkl "):
        genae.load("stylegan2-ada-ffhq-1024")


@needs_fixture
def test_published_generator_downloads_converts_and_caches(tmp_path, file_server):
    """Through a file server on 127.0.0.1 standing in for NVIDIA's CDN."""
    import shutil

    from genae_plugins.stylegan import AdaGenerator
    from genae_plugins.stylegan.official import fetch_ada

    served = file_server.folder
    entry = AdaGenerator("stylegan2-ada-fixture-16", "ada_cond16.pkl", "random-init", 16, conditional=True)
    shutil.copy(FIXTURE / entry.file, served / entry.file)
    folder = fetch_ada(entry, cache_dir=tmp_path / "cache", base_url=file_server.url, offline=False, progress=False)
    model = genae.load(folder)
    assert model.card["name"] == "stylegan2-ada-fixture-16" and model.config.c_dim == 10
    assert model.card["source_sha256"] == hashlib.sha256((served / entry.file).read_bytes()).hexdigest()
    assert "NVIDIA publishes no checksum" in model.card["source"]
    assert not any((tmp_path / "cache" / "official" / ".downloads").iterdir())  # the download was deleted
    assert fetch_ada(entry, cache_dir=tmp_path / "cache", offline=True) == folder  # cached: no server needed


@needs_fixture
def test_invert_mix_sample_and_bench_on_a_converted_model(cond, tmp_path):
    folder = cond.save_pretrained(tmp_path / "cond16")
    with torch.no_grad():
        images = cond.sample(2, generator=torch.Generator().manual_seed(1))
    result = genae.invert(cond, images, space="w+", steps=3, init="mean")
    assert result.latents.shape == (2, cond.decoder.num_styles, 32)
    assert cli_main(["mix", str(folder), "-n", "4", "--out", str(tmp_path / "mix.png")]) == 0
    assert cli_main(["sample", str(folder), "-n", "4", "--label", "3", "--out", str(tmp_path / "s.png")]) == 0
    assert cli_main(["bench", "--models", str(folder), "--data", "fashion-mnist-mini", "--metrics", "mse,speed",
                     "-n", "8", "--batch-size", "4", "--out", str(tmp_path / "bench"), "--no-progress"]) == 0
    assert (tmp_path / "mix.png").is_file() and (tmp_path / "s.png").is_file()


def test_discriminator_config_is_checked():
    kwargs = dict(resolution=8, latent_dim=8, n_mlp=1, channels=[8, 8], encoder_backbone=TINY_BACKBONE)
    model = genae.create("stylegan2", **kwargs, discriminator={"widths": [8, 8], "channels_in": 3})
    assert model.discriminator(torch.zeros(2, 3, 8, 8)).shape == (2, 1)
    with pytest.raises(ValueError, match=r"discriminator: .*unexpected keyword argument 'bogus'"):
        genae.create("stylegan2", **kwargs, discriminator={"widths": [8, 8], "bogus": 1})
    with pytest.raises(TypeError, match=r"discriminator: expected Optional\[dict\], got \[8, 8\]"):
        genae.create("stylegan2", **kwargs, discriminator=[8, 8])
