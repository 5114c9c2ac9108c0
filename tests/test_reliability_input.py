"""Reliability: bad input is refused (or warned about) in one line naming it, never turned into garbage (issue 10)."""

from __future__ import annotations

import gzip
import json
import struct
import zlib

import pytest
import torch
from click.testing import CliRunner
from safetensors.torch import load_file, save_file

import genae
from genae.bench.cli import bench_command
from genae.config import MAX_PARAMETERS_ENV
from genae.data import open_dataset
from genae.data.errors import DataError
from genae.data.idx import read_idx
from genae.data.transforms import fit_images
from genae.hub import ModelFolderError
from genae.testing.toy_recipe import register_toy


@pytest.fixture
def toy():
    torch.manual_seed(0)
    return genae.create(register_toy(), resolution=8, width=4).eval()


@pytest.fixture
def saved(toy, tmp_path):
    return toy.save_pretrained(tmp_path / "model")


def _rewrite_config(folder, **changes):
    config = json.loads((folder / "config.json").read_text())
    config.update(changes)
    (folder / "config.json").write_text(json.dumps(config))


def _rewrite_weights(folder, change):
    state = load_file(folder / "model.safetensors")
    change(state)
    save_file(state, folder / "model.safetensors")


# -- loading --------------------------------------------------------------------------------------------
def test_weights_of_the_wrong_dtype_are_refused_naming_the_tensor(saved):
    name = next(iter(load_file(saved / "model.safetensors")))
    _rewrite_weights(saved, lambda s: s.update({name: s[name].to(torch.int32)}))
    with pytest.raises(ModelFolderError, match=rf"wrong dtype: {name} torch.int32 != torch.float32"):
        genae.load(saved)


def test_non_finite_weights_are_refused_naming_the_tensor(saved):
    name = next(k for k, v in load_file(saved / "model.safetensors").items() if v.is_floating_point())
    _rewrite_weights(saved, lambda s: s[name].fill_(float("nan")))
    with pytest.raises(ModelFolderError, match=rf"NaN or infinite values: {name}"):
        genae.load(saved)


def test_a_newer_folder_format_is_refused_naming_both_versions(saved):
    _rewrite_config(saved, format="genae-model/999", genae_version="9.0")
    with pytest.raises(ModelFolderError, match=r"genae-model/999 \(written by genae 9.0\) is newer than this "
                                               rf"genae {genae.__version__} reads \(genae-model/1\)"):
        genae.load(saved)
    _rewrite_config(saved, format="something-else")
    with pytest.raises(ModelFolderError, match="unknown format 'something-else'"):
        genae.load(saved)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"config": [1, 2]}, "'config' a JSON object, got str and list"),
        ({"config": {"latent_dim": True}}, r"latent_dim: expected int, got True \(bool\)"),
        ({"config": {"width": "4"}}, r"width: expected int, got '4' \(str\)"),
    ],
)
def test_config_values_of_the_wrong_type_are_named(saved, change, message):
    _rewrite_config(saved, **change)
    with pytest.raises((ModelFolderError, TypeError), match=message):
        genae.load(saved)


def test_absurd_sizes_are_refused_before_allocating(monkeypatch):
    with pytest.raises(ValueError, match=rf"parameters .* above the limit of .*{MAX_PARAMETERS_ENV}"):
        genae.create(register_toy(), resolution=8, latent_dim=10**9)
    monkeypatch.setenv(MAX_PARAMETERS_ENV, "100")
    with pytest.raises(ValueError, match="above the limit of 100;"):
        genae.create(register_toy(), resolution=8, width=4)
    monkeypatch.setenv(MAX_PARAMETERS_ENV, "1e12")
    assert genae.create(register_toy(), resolution=8, width=4).latent_dim > 0


# -- encode / decode --------------------------------------------------------------------------------------
def test_non_finite_inputs_are_refused_everywhere(toy):
    images = torch.zeros(2, *toy.image_shape)
    images[1, 0, 0, 0] = float("nan")
    for call in (toy.encode, toy.reconstruct):
        with pytest.raises(ValueError, match=r"images: 1 of \d+ values are NaN or infinite"):
            call(images)
    latents = torch.zeros(3, toy.latent_dim)
    latents[0, 0] = float("inf")
    with pytest.raises(ValueError, match="latents: 1 of .* NaN or infinite"):
        toy.decode(latents)
    with pytest.raises(DataError, match="NaN or infinite"):
        fit_images(images, toy.channels, toy.resolution)


def test_images_outside_minus_one_one_are_refused_like_fit_images(toy):
    photo = torch.full((1, *toy.image_shape), 200.0)
    with pytest.raises(ValueError, match=r"images: values must lie in \[-1, 1\], got \[200, 200\].*uint8"):
        toy.encode(photo)
    with pytest.raises(DataError, match=r"\[-1, 1\]"):
        fit_images(photo, toy.channels, toy.resolution)
    assert toy.encode(torch.full((1, *toy.image_shape), 1.0005)).isfinite().all()  # resampling overshoot is fine
    fitted, _ = fit_images(photo.to(torch.uint8), toy.channels, toy.resolution)
    assert toy.encode(fitted).shape == (1, toy.latent_dim)


def test_float64_inputs_are_refused_with_the_fix_unless_the_model_is_float64(toy):
    with pytest.raises(TypeError, match=r"images: dtype torch.float64, but the model computes in torch.float32; "
                                        r"pass images.to\(torch.float32\)"):
        toy.encode(torch.zeros(1, *toy.image_shape, dtype=torch.float64))
    with pytest.raises(TypeError, match="latents: dtype torch.float64"):
        toy.decode(torch.zeros(1, toy.latent_dim, dtype=torch.float64))
    double = toy.double()
    assert double.decode(torch.zeros(1, toy.latent_dim, dtype=torch.float64)).dtype == torch.float64


# -- data files -----------------------------------------------------------------------------------------
def test_a_decompression_bomb_header_is_skipped_and_named(tmp_path):
    from PIL import Image

    folder = tmp_path / "images"
    folder.mkdir()
    Image.new("L", (8, 8), 128).save(folder / "good.png")
    Image.new("L", (8, 8), 128).save(folder / "bomb.png")
    data = bytearray((folder / "bomb.png").read_bytes())
    data[16:24] = struct.pack(">II", 30000, 30000)  # the IHDR claims 30000x30000 pixels
    data[29:33] = struct.pack(">I", zlib.crc32(bytes(data[12:29])))  # with a valid checksum
    (folder / "bomb.png").write_bytes(bytes(data))
    with pytest.warns(UserWarning, match=r"skipped 1 unreadable image file.*bomb.png.*decompression bomb"):
        open_dataset(folder, resolution=8, on_error="skip")
    with pytest.raises(DataError, match="bomb.png.*decompression bomb"):
        open_dataset(folder, resolution=8)


def test_an_idx_header_whose_dimensions_overflow_is_named(tmp_path):
    path = tmp_path / "huge-idx3-ubyte.gz"
    header = b"\x00\x00\x08\x03" + struct.pack(">III", 2**31, 2**31, 2**2)  # 2^64 bytes: int64 wraps to 0
    path.write_bytes(gzip.compress(header))
    with pytest.raises(DataError, match=r"huge-idx3-ubyte.gz: truncated: shape \(2147483648, 2147483648, 4\)"):
        read_idx(path)


def test_bench_puts_the_reason_for_an_unknown_model_on_stderr():
    result = CliRunner().invoke(bench_command, ["--models", "nothing-here", "--data", "fashion-mnist-mini",
                                                "--metrics", "mse", "-n", "4", "--no-progress"])
    assert result.exit_code == 1
    assert "failed: nothing-here:" in result.stderr and "nothing-here" in result.stderr.split("failed:")[1]
