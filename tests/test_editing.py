"""Editing: the issue's calls as written on every bundled family and a converted StyleGAN2, the supervised
trouser→dress edit measured with the shipped classifier, Directions files, the CLI and the bench metric."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

import genae
from genae.cli import main as cli_main
from genae.data import open_dataset
from genae.editing import Directions, EditSpace, fit_boundary
from genae.metrics.editing import FashionClassifier, class_edit_rates, classifier_change, movement_measure

SHARED = Path(__file__).resolve().parents[1].parent / "shared"
STYLEGAN_CHECKPOINT = SHARED / "fixtures" / "rosinality-stylegan2" / "narrow32_g.pt"
BUNDLED = ["automodulator-fashion-mnist-32", "lia-fashion-mnist-32", "vae-fashion-mnist-32"]
#: Codes per class behind the supervised boundary in these tests (the library's default is 1,000).
FIT_PER_CLASS = 300


@pytest.fixture(scope="module")
def models() -> dict:
    return {name: genae.load(name) for name in BUNDLED}


@pytest.fixture(scope="module")
def images() -> torch.Tensor:
    dataset = open_dataset("fashion-mnist-mini", split="test", resolution=32)
    return torch.stack([dataset[i][0] for i in range(6)])


@pytest.fixture(scope="module")
def trousers() -> torch.Tensor:
    dataset = open_dataset("fashion-mnist", split="test", resolution=32)
    return torch.stack([dataset[int(i)][0] for i in np.flatnonzero(dataset.labels == 1)[:100]])


@pytest.fixture(scope="module")
def stylegan(tmp_path_factory):
    if not STYLEGAN_CHECKPOINT.is_file():
        pytest.skip(f"fixture {STYLEGAN_CHECKPOINT} is absent")
    out = tmp_path_factory.mktemp("sg") / "narrow32"
    assert cli_main(["convert", "stylegan2", str(STYLEGAN_CHECKPOINT), str(out), "--encoder-backbone",
                     "regnetx_002"]) == 0
    return genae.load(out)


def _check_the_calls_as_written(m, images: torch.Tensor) -> None:
    d = genae.directions(m, method="sefa", k=5)
    assert len(d) == 5
    torch.testing.assert_close(d.vectors @ d.vectors.T, torch.eye(5), atol=1e-5, rtol=0)
    out = genae.edit(m, images, d[0], strength=[-3, 0, 3])
    assert out.shape == (images.shape[0], 3, *m.image_shape)
    assert torch.equal(out[:, 1], m.reconstruct(images))
    for moved in (out[:, 0], out[:, 2]):  # a direction that changed nothing would be a bug
        assert float((moved - out[:, 1]).abs().mean()) > 0.01


@pytest.mark.parametrize("name", BUNDLED)
def test_sefa_edit_of_bundled_models(models, images, name) -> None:
    _check_the_calls_as_written(models[name], images)


def test_sefa_edit_of_a_converted_stylegan2(stylegan) -> None:
    x = open_dataset("fashion-mnist-mini", split="test", resolution=32, channels=3)
    _check_the_calls_as_written(stylegan, torch.stack([x[i][0] for i in range(4)]))
    d = genae.directions(stylegan, method="ganspace", k=3)  # PCA of mapped draws (W): no data needed
    assert d.space == "w" and d.provenance["settings"]["codes"].endswith("mapped prior draws")


def test_supervised_runs_on_a_converted_stylegan2(stylegan) -> None:
    d = genae.directions(stylegan, method="supervised", data="fashion-mnist", labels=(1, 3), n=50)
    assert d.names == ["trouser->dress"] and d.vectors.shape == (1, stylegan.latent_dim)


@pytest.mark.parametrize("name", ["automodulator-fashion-mnist-32", "lia-fashion-mnist-32"])
def test_trouser_to_dress_turns_most_trousers_into_dresses(models, trousers, name) -> None:
    m = models[name]
    d = genae.directions(m, method="supervised", data="fashion-mnist", labels=(1, 3), n=FIT_PER_CLASS)
    classifier = FashionClassifier()
    rows = class_edit_rates(m, trousers, d[0], 3, [0.0, 2.0], classifier, movement_measure(classifier=classifier)[1])
    assert rows[0]["target_rate"] < 0.2 and rows[1]["target_rate"] > 0.6, rows
    assert rows[0]["movement"] == 0 and rows[1]["movement"] > 0


def test_trouser_to_dress_on_the_vae_acts_in_z(models, trousers) -> None:
    """The bundled VAE's blurry trousers already read as dresses to the classifier (see docs/editing.md), so the
    rate cannot rise far; the edit still moves the images and acts in z without slots."""
    m = models["vae-fashion-mnist-32"]
    d = genae.directions(m, method="supervised", data="fashion-mnist", labels=(1, 3), n=FIT_PER_CLASS)
    assert (d.space, d.slots, d.num_slots) == ("z", (0, 1), 1)
    out = genae.edit(m, trousers[:8], d[0], strength=[0, 3])
    assert torch.equal(out[:, 0], m.reconstruct(trousers[:8])) and float((out[:, 1] - out[:, 0]).abs().mean()) > 0.01
    with pytest.raises(ValueError, match="not style-based"):
        genae.edit(m, trousers[:2], d[0], strength=1, slots="coarse")


def test_supervised_from_a_labelled_folder(models, tmp_path) -> None:
    from PIL import Image

    from genae.viz import to_uint8

    dataset = open_dataset("fashion-mnist-mini", split="test", resolution=32)
    for name, label in (("trouser", 1), ("dress", 3)):
        (tmp_path / name).mkdir()
        for i in np.flatnonzero(dataset.labels == label)[:10]:
            Image.fromarray(to_uint8(dataset[int(i)][0][None])[0, ..., 0]).save(tmp_path / name / f"{i}.png")
    d = genae.directions(models["automodulator-fashion-mnist-32"], method="supervised", data=tmp_path, labels=(1, 0))
    assert d.names == ["trouser->dress"] and d.provenance["settings"]["labels"] == [1, 0]


def test_condition_projects_the_other_direction_out(models) -> None:
    m = models["automodulator-fashion-mnist-32"]
    other = genae.directions(m, method="sefa", k=1)
    d = genae.directions(m, method="supervised", data="fashion-mnist", labels=(1, 3), n=100, condition=other[0])
    assert abs(float(d.vectors[0] @ other.vectors[0])) < 1e-5
    by_pair = genae.directions(m, method="supervised", data="fashion-mnist", labels=(1, 3), n=100, condition=(0, 2))
    assert by_pair.provenance["settings"]["condition"] == [0, 2]


def test_fit_boundary_recovers_a_known_normal() -> None:
    generator = torch.Generator().manual_seed(0)
    codes = torch.randn(400, 8, generator=generator)
    truth = torch.nn.functional.normalize(torch.arange(1.0, 9.0), dim=0)
    targets = (codes @ truth > 0).double()
    normal, accuracy = fit_boundary(codes, targets)
    assert float(normal @ truth.double()) > 0.95 and accuracy > 0.95


def test_slots_move_only_the_chosen_slots(models, images) -> None:
    m = models["automodulator-fashion-mnist-32"]
    d = genae.directions(m, method="sefa", k=2, slots="fine")
    assert d.slots == m.resolve_style_range("fine")
    edited = genae.edit(m, images, d[1], strength=2.0)
    z = m.encode(images)
    start, stop = d.slots
    moved = z + 2.0 * d[1].scale * d[1].vector
    styles = [moved if start <= s < stop else z for s in range(m.decoder.num_styles)]
    assert torch.equal(edited[:, 0], m.decoder.forward_styles(styles).clamp(-1, 1))


def test_sefa_scales_come_from_data_when_given(models) -> None:
    m = models["lia-fashion-mnist-32"]
    prior, data = (genae.directions(m, method="sefa", k=2, **o) for o in ({}, {"data": "fashion-mnist-mini", "n": 200}))
    assert torch.equal(prior.vectors, data.vectors) and not torch.equal(prior.scales, data.scales)
    assert "encoded images" in data.provenance["settings"]["scale_from"]


def test_ganspace_needs_data_on_an_isotropic_prior(models) -> None:
    m = models["automodulator-fashion-mnist-32"]
    with pytest.raises(ValueError, match="data"):
        genae.directions(m, method="ganspace")
    d = genae.directions(m, method="ganspace", k=3, data="fashion-mnist-mini", n=200)
    assert d.names == ["pc-0", "pc-1", "pc-2"] and bool((d.values[:-1] >= d.values[1:]).all())


def test_lia_edits_w_after_its_flow(models, images) -> None:
    m = models["lia-fashion-mnist-32"]
    space = EditSpace(m)
    assert space.name == "w"
    z = m.encode(images)
    torch.testing.assert_close(space.codes(z)[0], m.flow.inverse(z))


def test_latents_and_inversion_inputs(models, images) -> None:
    m = models["automodulator-fashion-mnist-32"]
    d = genae.directions(m, method="sefa", k=1)
    z = m.encode(images)
    assert torch.equal(genae.edit(m, z, d[0], strength=0)[:, 0], m.decode(z))
    result = genae.invert(m, images[:2], "optimise", space="w+", steps=3, optimise_noise=False)
    edited = genae.edit(m, images[:2], d[0], strength=[0], invert={"steps": 3})
    torch.testing.assert_close(edited[:, 0], result.reconstructions, atol=1e-6, rtol=0)


def test_directions_round_trip_and_torn_pairs_are_refused(models, tmp_path) -> None:
    d = genae.directions(models["automodulator-fashion-mnist-32"], method="sefa", k=3, slots="coarse")
    path = d.save(tmp_path / "d.safetensors")
    loaded = Directions.load(tmp_path / "d.json")
    assert torch.equal(loaded.vectors, d.vectors) and loaded.names == d.names and loaded.slots == d.slots
    assert loaded.provenance["model"] == "automodulator-fashion-mnist-32" and loaded["sefa-2"].name == "sefa-2"
    record = json.loads((tmp_path / "d.json").read_text())
    assert record["method"] == "sefa" and record["tensors"] == "d.safetensors"
    genae.directions(models["automodulator-fashion-mnist-32"], method="sefa", k=2).save(tmp_path / "e.safetensors")
    path.write_bytes((tmp_path / "e.safetensors").read_bytes())
    with pytest.raises(ValueError, match="does not match"):
        Directions.load(path)


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"method": "pca"}, "method: expected one of"),
    ({"method": "sefa", "k": 0}, "k: expected an int"),
    ({"method": "sefa", "slots": "middle"}, "unknown style range"),
    ({"method": "sefa", "labels": (1, 3)}, "only method='supervised'"),
    ({"method": "supervised", "data": "fashion-mnist", "labels": (1, 1)}, "two different class ids"),
    ({"method": "supervised", "labels": (1, 3)}, "needs labelled images"),
])
def test_bad_direction_requests_fail_clearly(models, kwargs, message) -> None:
    with pytest.raises(ValueError, match=message):
        genae.directions(models["automodulator-fashion-mnist-32"], **kwargs)


def test_bad_edit_requests_fail_clearly(models, images) -> None:
    m = models["automodulator-fashion-mnist-32"]
    d = genae.directions(m, method="sefa", k=2)
    with pytest.raises(ValueError, match="pass one of them"):
        genae.edit(m, images, d)
    with pytest.raises(ValueError, match="strength"):
        genae.edit(m, images, d[0], strength=[float("nan")])
    with pytest.raises(ValueError, match="codes of size"):
        genae.edit(models["lia-fashion-mnist-32"], images, d[0])


def test_classifier_change_is_a_fraction(models, images) -> None:
    m = models["automodulator-fashion-mnist-32"]
    d = genae.directions(m, method="sefa", k=1)
    change = classifier_change(m, images, d[0], 3.0, FashionClassifier())
    assert 0.0 < change <= 1.0


def test_cli_writes_a_labelled_grid_and_reuses_saved_directions(tmp_path) -> None:
    grid = tmp_path / "grid.png"
    args = ["edit", "automodulator-fashion-mnist-32", "--method", "sefa", "--index", "0", "--strengths", "-3,0,3",
            "-n", "3", "--scale", "2"]
    assert cli_main([*args, "--out", str(grid)]) == 0
    saved = tmp_path / "grid.directions.safetensors"
    assert grid.is_file() and saved.is_file() and saved.with_suffix(".json").is_file()
    again = tmp_path / "again.png"
    assert cli_main([*args, "--directions", str(saved), "--out", str(again)]) == 0
    assert again.read_bytes() == grid.read_bytes()


def test_cli_errors_are_one_line(models, tmp_path, capsys) -> None:
    code = cli_main(["edit", "automodulator-fashion-mnist-32", "--strengths", "a,b", "--out", str(tmp_path / "g.png")])
    assert code != 0 and "--strengths" in capsys.readouterr().err
    saved = genae.directions(models["automodulator-fashion-mnist-32"], k=2).save(tmp_path / "d.safetensors")
    code = cli_main(["edit", "automodulator-fashion-mnist-32", "--directions", str(saved), "--index", "9",
                     "--out", str(tmp_path / "g.png")])
    err = capsys.readouterr().err
    assert code != 0 and err.count("\n") == 1 and "direction index" in err


def test_bench_edit_metric(tmp_path, monkeypatch) -> None:
    from genae.bench import run_bench

    monkeypatch.setenv("GENAE_HOME", str(tmp_path / "home"))
    record = run_bench(["vae-fashion-mnist-32"], data="fashion-mnist-mini", metrics="edit", n=60, progress=False)[0]
    figures = {f["name"]: f for f in record["figures"]}
    assert all(f["status"] == "ok" for f in figures.values()), [f["reason"] for f in figures.values()]
    assert {"edit_rate_0", "edit_rate_2", "sefa_change", "ganspace_change"} <= set(figures)
    assert all(0.0 <= f["value"] <= 1.0 for f in figures.values())
    assert figures["edit_rate_2"]["settings"]["movement"] > 0
