"""Reliability, second pass (issue 25 items 7-11, 14): hostile config files, absurd sizes, odd image modes.

Each bad file is built in a temporary folder; the one-line message must name it and say what was expected.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from PIL import Image

import genae
from genae.cli import main
from genae.config import MAX_PARAMETERS_ENV
from genae.data import DataError, load_image_files
from genae.hub import ModelFolderError
from genae.testing.toy_recipe import register_toy


@pytest.fixture
def saved(tmp_path):
    torch.manual_seed(0)
    return genae.create(register_toy(), resolution=8, width=4).save_pretrained(tmp_path / "model")


def one_line_error(args, capsys) -> str:
    """Run the CLI; it must fail with exactly one line on stderr, which is returned."""
    code = main(args)
    err = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
    assert code != 0 and len(err) == 1, (code, err)
    return err[0]


# -- 7-9: config.json that is not the JSON object genae wrote ----------------------------------------------------
def _config_text(folder) -> str:
    return (folder / "config.json").read_text()


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda text: text.encode("utf-16"), r"not UTF-8 text \(byte 0xff at offset 0\); save it as UTF-8 JSON"),
        (lambda text: text.replace('"toy"', '"t\xffy"').encode("latin-1"), r"not UTF-8 text \(byte 0xff at offset \d+\)"),
        (lambda text: ("[" * 100_000 + "]" * 100_000).encode(), "JSON nested too deeply to be a model config"),
        (lambda text: json.dumps({**json.loads(text), "card": [1, 2]}).encode(),
         r"expected 'card' to be a JSON object or absent, got list \[1, 2\]"),
        (lambda text: json.dumps({**json.loads(text), "card": "nice"}).encode(),
         "expected 'card' to be a JSON object or absent, got str \"nice\""),
        (lambda text: json.dumps({**json.loads(text), "plugin": 7}).encode(),
         "expected 'plugin' to be a JSON string or absent, got int 7"),
    ],
    ids=["utf-16", "invalid-utf-8", "nested-100000", "card-list", "card-string", "plugin-int"],
)
def test_a_hostile_config_json_is_refused_naming_it(saved, make, message, tmp_path, capsys):
    (saved / "config.json").write_bytes(make(_config_text(saved)))
    with pytest.raises(ModelFolderError, match=rf"^{saved / 'config.json'}: {message}"):
        genae.load(saved)
    line = one_line_error(["sample", str(saved), "-n", "1", "--out", str(tmp_path / "x.png")], capsys)
    assert line.startswith(f"error: {saved / 'config.json'}: ")
    assert not (tmp_path / "x.png").exists()


def test_a_utf8_byte_order_mark_is_accepted(saved):
    (saved / "config.json").write_bytes(b"\xef\xbb\xbf" + _config_text(saved).encode())
    assert genae.load(saved).config.width == 4


# -- 10: every integer that sizes a tensor is capped ----------------------------------------------------------------
@pytest.mark.parametrize("value", [2**40, 2**63, 2**64 + 1], ids=["2^40", "2^63", "2^64+1"])
def test_an_absurd_size_in_config_json_is_refused_naming_the_field(saved, value, capsys, tmp_path):
    config = json.loads(_config_text(saved))
    config["config"]["latent_dim"] = value
    (saved / "config.json").write_text(json.dumps(config))
    with pytest.raises(ValueError, match=rf"latent_dim={value:,} alone exceeds the limit of 2,000,000,000 "
                                         rf"parameters; check its sizes, or raise the limit with {MAX_PARAMETERS_ENV}=N$"):
        genae.load(saved)
    line = one_line_error(["reconstruct", str(saved), "--out", str(tmp_path / "x.png")], capsys)
    assert f"latent_dim={value:,} alone exceeds" in line


def test_sizes_inside_lists_are_capped_and_overflowing_products_named(monkeypatch):
    with pytest.raises(ValueError, match=r"channels\[0\]=9,223,372,036,854,775,808 alone exceeds the limit"):
        genae.create("vae", resolution=8, channels_in=1, channels=[2**63, 4])
    monkeypatch.setenv(MAX_PARAMETERS_ENV, "1e15")  # each size passes a raised cap; their product overflows int64
    with pytest.raises(ValueError, match="its sizes overflow PyTorch's 64-bit tensor sizes; check them$"):
        genae.create(register_toy(), resolution=8, latent_dim=10**15, width=10**15)


# -- 11: the cap's environment variable ---------------------------------------------------------------------------
@pytest.mark.parametrize("text", ["inf", "abc", "-1", "0", "nan", "1.5", "1e400", "1e16"])
def test_a_bad_max_parameters_variable_is_named(saved, monkeypatch, text, capsys, tmp_path):
    monkeypatch.setenv(MAX_PARAMETERS_ENV, text)
    expected = (f"{MAX_PARAMETERS_ENV}={text!r}: expected a whole number of parameters from 1 to 1e+15 "
                "(unset: 2,000,000,000)")
    with pytest.raises(ValueError) as refused:
        genae.create(register_toy(), resolution=8, width=4)
    assert str(refused.value) == expected
    assert one_line_error(["sample", str(saved), "--out", str(tmp_path / "x.png")], capsys) == f"error: {expected}"
    monkeypatch.setenv(MAX_PARAMETERS_ENV, " 1e12 ")
    assert genae.create(register_toy(), resolution=8, width=4).latent_dim > 0


# -- 14: float TIFF -------------------------------------------------------------------------------------------------
def test_a_float_tiff_is_scaled_and_the_conversion_reported(saved, tmp_path, capsys):
    values = np.linspace(0, 1, 8 * 8, dtype=np.float32).reshape(8, 8)
    Image.fromarray(values, mode="F").save(tmp_path / "scan.tif")
    notices: list[str] = []
    images = load_image_files([tmp_path / "scan.tif"], channels=1, resolution=8, notify=notices.append)
    expected = torch.from_numpy(np.floor(values * 255 + 0.5)).float() / 127.5 - 1
    assert torch.equal(images[0, 0], expected)  # 0..1 → 0..255 levels, not all zeros
    assert notices == [f"{tmp_path / 'scan.tif'}: float grey (values 0..1, read as 0..1) scaled to 0..255"]
    assert main(["reconstruct", str(saved), str(tmp_path / "scan.tif"), "--out", str(tmp_path / "r.png")]) == 0
    err = capsys.readouterr().err
    assert "scaled to 0..255" in err and "RGB to grey" not in err

    Image.fromarray(values * 255, mode="F").save(tmp_path / "levels.tif")
    load_image_files([tmp_path / "levels.tif"], channels=1, resolution=8, notify=notices.append)
    assert notices[-1].endswith("float grey (values 0..255, read as 0..255) rounded")
    Image.fromarray(values * 1000 - 5, mode="F").save(tmp_path / "hdr.tif")
    with pytest.raises(DataError, match=rf"^cannot read image {tmp_path / 'hdr.tif'}: float values span "
                                        r"\[-5, 995\]; expected 0..1 or 0..255$"):
        load_image_files([tmp_path / "hdr.tif"], channels=1, resolution=8)
    line = one_line_error(["reconstruct", str(saved), str(tmp_path / "hdr.tif"), "--out", str(tmp_path / "h.png")],
                          capsys)
    assert line == f"error: cannot read image {tmp_path / 'hdr.tif'}: float values span [-5, 995]; expected 0..1 or 0..255"
