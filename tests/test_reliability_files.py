"""Reliability: nothing a user wrote is lost, whatever fails and whenever a run is killed (issue 10)."""

from __future__ import annotations

import json
import os
import shutil

import pytest
import torch
from click.testing import CliRunner
from torch.utils.data import TensorDataset

import genae
import genae.hub
from genae.io import atomic_folder
from genae.testing.toy_recipe import ToyRecipe, register_toy
from genae.training import Trainer
from genae.training import checkpoint as checkpoint_module
from genae.training.checkpoint import CheckpointError, load_checkpoint, save_checkpoint
from genae.training.cli import train_command


def toy(seed: int = 0, width: int = 4):
    torch.manual_seed(seed)
    return genae.create(register_toy(), resolution=8, width=width)


def toy_data() -> TensorDataset:
    return TensorDataset(torch.rand(16, 1, 8, 8, generator=torch.Generator().manual_seed(1)) * 2 - 1)


def toy_trainer(out, steps: int = 2, **kwargs) -> Trainer:
    model = toy()
    return Trainer(model, ToyRecipe(model, batch_size=8), toy_data(), out_dir=out, steps=steps, log_every=1,
                   grid_every=None, checkpoint_every=1, progress=False, **kwargs)


# -- save_pretrained replaces a folder as a whole --------------------------------------------------------
def test_failed_save_over_an_existing_model_leaves_it_loadable(tmp_path, monkeypatch):
    folder = tmp_path / "model"
    small = toy(width=4)
    small.save_pretrained(folder)
    (folder / "notes.txt").write_text("mine")

    def broken_card(*args, **kwargs):
        raise RuntimeError("card writer failed")

    monkeypatch.setattr(genae.hub, "render_model_card", broken_card)
    with pytest.raises(RuntimeError, match="card writer failed"):
        toy(seed=1, width=8).save_pretrained(folder)  # other shapes: a mixed folder would not load
    loaded = genae.load(folder)
    for key, value in small.state_dict().items():
        assert torch.equal(loaded.state_dict()[key], value), key
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model"]  # the staging folder is gone
    monkeypatch.undo()

    bigger = toy(seed=1, width=8)
    bigger.save_pretrained(folder)
    assert genae.load(folder).config.width == 8
    assert (folder / "notes.txt").read_text() == "mine"  # a user's other files are carried over
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model"]


def test_atomic_folder_refuses_a_file_and_swaps_without_the_exchange_call(tmp_path, monkeypatch):
    (tmp_path / "file").write_text("x")
    with pytest.raises(NotADirectoryError, match="file"), atomic_folder(tmp_path / "file"):
        pass
    target = tmp_path / "folder"
    target.mkdir()
    (target / "a").write_text("old")
    monkeypatch.setattr("genae.io._exchange", lambda a, b: False)  # the portable two-rename path
    with atomic_folder(target, replaces=("a",)) as staged:
        (staged / "a").write_text("new")
    assert (target / "a").read_text() == "new"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["file", "folder"]


# -- genae train never writes over a user's folder ----------------------------------------------------------
def test_fresh_run_refuses_a_non_empty_folder_unless_overwrite(tmp_path):
    out = tmp_path / "run"
    out.mkdir()
    (out / "metrics.jsonl").write_text("my own notes\n")
    (out / "thesis.tex").write_text("precious")
    with pytest.raises(FileExistsError, match=r"not empty \(metrics.jsonl, thesis.tex\).*overwrite"):
        toy_trainer(out).fit()
    assert (out / "metrics.jsonl").read_text() == "my own notes\n"
    toy_trainer(out).fit(overwrite=True)
    assert (out / "thesis.tex").read_text() == "precious"  # only the run's own outputs were replaced
    assert [json.loads(line)["step"] for line in (out / "metrics.jsonl").read_text().splitlines()] == [1, 2]
    with pytest.raises(FileExistsError, match="already holds a checkpoint; resume it"):
        toy_trainer(out).fit()


def test_cli_train_refuses_a_non_empty_out_and_overwrite_starts_afresh(tmp_path, monkeypatch):
    from genae.training import cli

    monkeypatch.setattr(cli, "open_dataset", lambda name, resolution, channels: toy_data())
    out = tmp_path / "run"
    out.mkdir()
    (out / "keep.txt").write_text("mine")
    args = [register_toy(), "--data", "x", "--resolution", "8", "--out", str(out), "--set", "width=4",
            "--batch-size", "8", "--steps", "2", "--no-progress"]
    refused = CliRunner().invoke(train_command, args)
    assert refused.exit_code == 1 and "--overwrite" in refused.output and "keep.txt" in refused.output
    assert sorted(p.name for p in out.iterdir()) == ["keep.txt"]
    done = CliRunner().invoke(train_command, [*args, "--overwrite"])
    assert done.exit_code == 0, done.output
    assert "2 steps, 0 s" not in done.output and "model saved to" in done.output
    assert (out / "keep.txt").read_text() == "mine"


# -- checkpoints -------------------------------------------------------------------------------------
def test_kill_between_the_two_renames_resumes_from_the_newest_complete_file(tmp_path, monkeypatch):
    trainer = toy_trainer(tmp_path, steps=2)
    trainer.fit()  # checkpoint.pt at step 2, checkpoint.prev.pt at step 1
    (tmp_path / ".checkpoint.pt.stale.tmp").write_bytes(b"torn by a kill")  # an older, incomplete save
    real_replace = os.replace

    def killed_after_first_rename(src, dst):
        real_replace(src, dst)
        if str(dst).endswith("checkpoint.prev.pt"):
            raise KeyboardInterrupt  # the process dies here: checkpoint.pt is gone, the new one is a temp

    trainer.step = 3
    monkeypatch.setattr(checkpoint_module.os, "replace", killed_after_first_rename)
    monkeypatch.setattr("genae.io.os.replace", killed_after_first_rename)
    monkeypatch.setattr("genae.io.Path.unlink", lambda self, missing_ok=False: None)  # no cleanup after a kill
    with pytest.raises(KeyboardInterrupt):
        trainer.save_checkpoint()
    monkeypatch.undo()
    assert not (tmp_path / "checkpoint.pt").exists()
    with pytest.warns(RuntimeWarning, match=r"using \.checkpoint\.pt\..*\.tmp \(step 3\)"):
        assert load_checkpoint(tmp_path)["step"] == 3  # not checkpoint.prev.pt (step 2)
    with pytest.warns(RuntimeWarning):
        state = load_checkpoint(tmp_path)
    save_checkpoint(state, tmp_path)  # the next save cleans every stale temp
    assert not list(tmp_path.glob(".checkpoint.pt.*.tmp"))
    assert load_checkpoint(tmp_path)["step"] == 3


def test_resume_with_a_checkpoint_missing_keys_names_them(tmp_path):
    toy_trainer(tmp_path, steps=1).fit()
    state = load_checkpoint(tmp_path)
    del state["architecture"]
    torch.save(state, tmp_path / "checkpoint.pt")
    (tmp_path / "checkpoint.prev.pt").unlink(missing_ok=True)
    with pytest.raises(CheckpointError, match=r"checkpoint.pt: incomplete \(missing keys \['architecture'\]\)"):
        toy_trainer(tmp_path, steps=2).fit(resume=True)


def test_a_non_json_line_in_the_log_is_named_on_resume(tmp_path):
    toy_trainer(tmp_path, steps=2).fit()
    log = tmp_path / "metrics.jsonl"
    lines = log.read_text().splitlines()
    log.write_text(lines[0] + "\nnot json\n" + lines[1] + "\n")
    with pytest.raises(ValueError, match=r"metrics.jsonl line 2: not JSON"):
        toy_trainer(tmp_path, steps=3).fit(resume=True)
    # a line torn by a kill (the last one, cut short) is dropped with a warning: the resume goes on
    log.write_text("\n".join(lines) + '\n{"step": 3, "los')
    with pytest.warns(RuntimeWarning, match="line 3 is incomplete"):
        toy_trainer(tmp_path, steps=3).fit(resume=True)
    assert [json.loads(x)["step"] for x in log.read_text().splitlines()] == [1, 2, 3]


def test_overwrite_removes_the_earlier_runs_outputs(tmp_path):
    toy_trainer(tmp_path, steps=2, grid_size=2).fit()
    shutil.copy(tmp_path / "checkpoint.pt", tmp_path / ".checkpoint.pt.x.tmp")
    toy_trainer(tmp_path, steps=1).fit(overwrite=True)
    assert load_checkpoint(tmp_path)["step"] == 1
    assert not list(tmp_path.glob(".checkpoint.pt.*.tmp"))
