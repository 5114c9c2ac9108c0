"""The papers' operations on the CLI (issue 22): `genae sample --condition`, `genae translate`, `genae classify`.

Each command's output is compared with the Python call it wraps, on the bundled models and real images.
"""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

import genae
from genae.cli import main
from genae.data import load_image_files, open_dataset
from genae.viz import make_grid, to_uint8


def _write_images(folder: Path, images: torch.Tensor) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for index, array in enumerate(to_uint8(images)):
        paths.append(folder / f"{index:02d}.png")
        Image.fromarray(array[:, :, 0]).save(paths[-1])
    return paths


@pytest.fixture(scope="module")
def garments(tmp_path_factory: pytest.TempPathFactory) -> Path:
    data = open_dataset("fashion-mnist-mini", split="test", resolution=32)
    folder = tmp_path_factory.mktemp("garments")
    _write_images(folder, torch.stack([data[i][0] for i in range(6)]))
    return folder


def _grid(path: Path) -> np.ndarray:
    return np.asarray(Image.open(path).convert("L"))


def _expected(images: torch.Tensor, nrow: int) -> np.ndarray:
    array = make_grid(images, nrow=nrow)
    return np.asarray(Image.fromarray(array[:, :, 0]).resize((array.shape[1] * 2, array.shape[0] * 2), Image.NEAREST))


def test_sample_condition_is_conditional_sample(garments: Path, tmp_path: Path) -> None:
    out = tmp_path / "cond.png"
    files = sorted(garments.glob("*.png"))[:2]
    args = ["sample", "automodulator-fashion-mnist-32", "--condition", str(files[0]), "--condition", str(files[1]),
            "--range", "coarse", "-n", "3", "--seed", "4", "--scale", "2", "--out", str(out)]
    assert main(args) == 0
    model = genae.load("automodulator-fashion-mnist-32")
    x = load_image_files(files, channels=1, resolution=32)
    with torch.no_grad():
        samples = model.conditional_sample(x, keep="coarse", n=3, generator=torch.Generator().manual_seed(4))
    expected = torch.cat([x[:, None], samples], dim=1).flatten(0, 1)
    np.testing.assert_array_equal(_grid(out), _expected(expected, nrow=4))


def test_sample_condition_refuses_what_it_cannot_do(garments: Path, tmp_path: Path,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    out = str(tmp_path / "x.png")
    assert main(["sample", "lia-fashion-mnist-32", "--condition", str(garments), "--out", out]) == 1
    assert "conditional_sample" in capsys.readouterr().err
    assert main(["sample", "automodulator-fashion-mnist-32", "--range", "fine", "--out", out]) == 2
    assert "--condition" in capsys.readouterr().err
    assert main(["sample", "automodulator-fashion-mnist-32", "--condition", str(garments), "--range", "middle",
                 "--out", out]) == 2
    assert not Path(out).exists()


def test_translate_draws_several_garments_per_edge_map(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from genae_plugins.iae.data import edge_maps

    data = open_dataset("fashion-mnist-mini", split="test", resolution=32)
    edges = edge_maps(torch.stack([data[i][0] for i in range(3)]))
    _write_images(tmp_path / "edges", edges)
    out = tmp_path / "b2a.png"
    assert main(["translate", "cycle-iae-fashion-edges-32", str(tmp_path / "edges"), "--direction", "b-to-a",
                 "--draws", "4", "--seed", "1", "--scale", "2", "--out", str(out)]) == 0
    model = genae.load("cycle-iae-fashion-edges-32")
    generator = torch.Generator().manual_seed(1)
    with torch.no_grad():
        draws = [model.decode(edges.flatten(1), noise=model.decoder_noise(3, generator)) for _ in range(4)]
    np.testing.assert_array_equal(_grid(out), _expected(torch.stack([edges, *draws], 1).flatten(0, 1), nrow=5))
    assert float((draws[0] - draws[1]).abs().mean()) > 0.01  # the draws differ: the translation is stochastic

    out = tmp_path / "a2b.png"
    assert main(["translate", "cycle-iae-fashion-edges-32", "-n", "2", "--draws", "3", "--out", str(out)]) == 0
    assert "no noise" in capsys.readouterr().err  # this model's A→B translator is deterministic: one column
    assert Image.open(out).size[0] < Image.open(out).size[1] * 2  # 2 columns (input, translation), 2 rows
    assert main(["translate", "automodulator-fashion-mnist-32", "-n", "2", "--out", str(out)]) == 1


def test_classify_writes_a_csv_row_per_image_of_a_folder(garments: Path, tmp_path: Path,
                                                         capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "classes.csv"
    assert main(["classify", "iae-semisup-fashion-mnist-32", str(garments), "--csv", str(out)]) == 0
    rows = list(csv.DictReader(out.open()))
    files = sorted(garments.glob("*.png"))
    assert [row["file"] for row in rows] == [str(f) for f in files]
    model = genae.load("iae-semisup-fashion-mnist-32")
    with torch.no_grad():
        expected = model.classify(load_image_files(files, channels=1, resolution=32))
    assert [int(row["category"]) for row in rows] == expected.tolist()
    classes = open_dataset("fashion-mnist-mini", split="test").classes
    assert [row["class"] for row in rows] == [classes[k] for k in expected.tolist()]
    assert all(0.0 < float(row["probability"]) <= 1.0 for row in rows)
    assert "6 images in" in capsys.readouterr().out

    assert main(["classify", "iae-cluster-fashion-mnist-32", str(garments)]) == 0  # clusters have no class names
    assert capsys.readouterr().out.splitlines()[0] == "file,category,probability"
    assert main(["classify", "iae-fashion-mnist-32", str(garments)]) == 1  # a continuous code has no categories
    assert "classify" in capsys.readouterr().err
