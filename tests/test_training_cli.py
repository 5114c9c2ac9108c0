"""``genae train`` through click's CliRunner, on the toy model and a stand-in dataset."""

from __future__ import annotations

import json

import pytest
import torch
from click.testing import CliRunner
from torch.utils.data import TensorDataset

import genae
from genae.testing.toy_recipe import register_toy
from genae.training import cli
from genae.training.cli import parse_assignments, train_command


class StandIn(TensorDataset):
    description = "stand-in: 48 random 16px grey images"


@pytest.fixture
def opened(monkeypatch):
    calls = []

    def fake_open_dataset(name_or_path, resolution, channels):
        calls.append((name_or_path, resolution, channels))
        generator = torch.Generator().manual_seed(5)
        return StandIn(torch.rand(48, channels, resolution, resolution, generator=generator) * 2 - 1)

    monkeypatch.setattr(cli, "open_dataset", fake_open_dataset)
    return calls


def invoke(*args: str):
    return CliRunner().invoke(train_command, list(args), catch_exceptions=False)


def test_train_then_resume_writes_a_loadable_model(tmp_path, opened):
    name = register_toy()
    out = tmp_path / "run"
    common = [name, "--data", "some-data", "--resolution", "16", "--out", str(out), "--set", "width=8",
              "--option", "latent_weight=0.01", "--batch-size", "8", "--lr", "0.003", "--no-progress",
              "--log-every", "1", "--grid-every", "2"]
    result = invoke(*common, "--steps", "4")
    assert result.exit_code == 0, result.output
    assert "model saved to" in result.output
    assert opened == [("some-data", 16, 1)]
    model = genae.load(out / "model")
    assert (model.config.resolution, model.config.width) == (16, 8)
    assert model.card["dataset"] == StandIn.description
    assert model.card["recipe_options"]["latent_weight"] == 0.01
    records = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in records] == [1, 2, 3, 4] and {r["lr"] for r in records} == {0.003}

    again = CliRunner().invoke(train_command, [*common, "--steps", "6"])
    assert again.exit_code == 1 and "--resume" in again.output

    resumed = invoke(*common, "--steps", "6", "--resume")
    assert resumed.exit_code == 0, resumed.output
    assert genae.load(out / "model").card["steps"] == 6
    assert (out / "grids" / "step00000006.png").is_file()


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--set", "width"], "expected key=value"),
        (["--set", "wdth=8"], "unknown field"),
        (["--option", "no_such_option=1"], "no_such_option"),
        (["--steps", "2", "--images", "8"], "not both"),
        (["--steps", "2", "--precision", "fp16"], "CUDA"),
        (["--steps", "2", "--compile"], "names no compile targets"),  # the toy model names none
    ],
)
def test_bad_arguments_are_usage_errors(tmp_path, opened, extra, message):
    name = register_toy()
    result = CliRunner().invoke(train_command, [name, "--data", "x", "--out", str(tmp_path), *extra])
    assert result.exit_code == 2, result.output
    assert message in result.output


def test_unknown_model_name(tmp_path, opened):
    register_toy()
    result = CliRunner().invoke(train_command, ["toyy", "--data", "x", "--out", str(tmp_path), "--steps", "1"])
    assert result.exit_code == 2 and "toyy" in result.output and "toy" in result.output


def test_parse_assignments_reads_json_values():
    assert parse_assignments(("a=1", "b=0.5", "c=true", "d=fashion", "e=[1, 2]", "f="), "--set") == {
        "a": 1, "b": 0.5, "c": True, "d": "fashion", "e": [1, 2], "f": ""
    }


def test_card_names_the_data_without_its_path_and_records_effective_hyperparameters(tmp_path):
    """A run on a user's folder publishes the folder's name and content hash, never where it sits; the batch
    size and lr in the card are the ones the Trainer used (its overrides beat the recipe's)."""
    import numpy as np
    from PIL import Image

    name = register_toy()
    folder = tmp_path / "home" / "alice" / "my-shoes"
    folder.mkdir(parents=True)
    for index in range(12):
        Image.fromarray(np.full((16, 16), index * 20, dtype=np.uint8)).save(folder / f"{index}.png")
    out = tmp_path / "run"
    result = invoke(name, "--data", str(folder), "--out", str(out), "--set", "width=8", "--steps", "2",
                    "--batch-size", "4", "--lr", "0.002", "--no-progress", "--grid-every", "2")
    assert result.exit_code == 0, result.output
    model = genae.load(out / "model")
    card_text = (out / "model" / "README.md").read_text() + (out / "model" / "config.json").read_text()
    assert str(tmp_path) not in card_text and "alice" not in card_text
    assert "my-shoes" in model.card["dataset"] and len(model.card["dataset_hash"]) == 32
    assert model.card["hyperparameters"]["batch_size"] == 4
    assert "lr=0.002" in model.card["hyperparameters"]["schedule"]
    assert f"`{model.card['dataset_hash']}`" in card_text
