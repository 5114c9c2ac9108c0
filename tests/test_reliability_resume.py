"""Reliability of resuming (issue 25 items 12-13, issue 22 item 4): damaged or newer checkpoints, and Ctrl-C.

A damaged entry is named with its file; a checkpoint from a newer genae is refused without deleting anything;
Ctrl-C stops after a complete step, checkpoints it, and the resume continues exactly.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time

import pytest
import torch
from torch.utils.data import TensorDataset
from toy_cli import cli_result, toy_train_args

import genae
from genae.testing.toy_recipe import ToyRecipe, register_toy
from genae.training import Trainer, TrainingInterrupted
from genae.training import cli as train_cli
from genae.training.checkpoint import CheckpointError, load_checkpoint


def toy_data() -> TensorDataset:
    return TensorDataset(torch.rand(40, 1, 8, 8, generator=torch.Generator().manual_seed(1)) * 2 - 1)


def toy_trainer(out, steps: int, recipe_class=ToyRecipe, **kwargs) -> Trainer:
    torch.manual_seed(0)
    model = genae.create(register_toy(), resolution=8, width=4)
    return Trainer(model, recipe_class(model, batch_size=8), toy_data(), out_dir=out, steps=steps, log_every=1,
                   grid_every=None, checkpoint_every=100, progress=False, **kwargs)


def train_args(out, *extra: str) -> list[str]:
    return toy_train_args(out, "--log-every", "1", *extra)


def folder_bytes(folder) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir()) if p.is_file()}


# -- 12: a checkpoint that loads but holds bad entries --------------------------------------------------------------
@pytest.mark.parametrize(
    ("entry", "bad", "reason"),
    [
        ("data_order", {}, "KeyError: 'num_items'"),
        ("model", {}, r"ValueError: missing \['decoder\..*'\], unexpected \[\], wrong shape \[\]"),
        ("model", "weights", "ValueError: expected a dict of tensors, got str"),
        ("optimizers", {"model": {}}, "KeyError: 'param_groups'"),
        ("ema", [], "ValueError: EMA state: expected a dict with keys 'decays' and 'shadow'"),
        ("step", -3, "ValueError: expected a non-negative number, got -3"),
        ("rng", 5, r"TypeError: object of type 'int' has no len\(\)"),
    ],
)
def test_a_bad_entry_is_named_with_its_file(tmp_path, entry, bad, reason, monkeypatch, capsys):
    toy_trainer(tmp_path, steps=2).fit()
    state = load_checkpoint(tmp_path)
    state[entry] = bad
    torch.save(state, tmp_path / "checkpoint.pt")
    before = folder_bytes(tmp_path)
    message = (rf"^{tmp_path / 'checkpoint.pt'}: entry '{entry}' does not fit this run \({reason}\); "
               "delete or move that file to resume from an older checkpoint$")
    with pytest.raises(CheckpointError, match=message):
        toy_trainer(tmp_path, steps=3).fit(resume=True)
    monkeypatch.setattr(train_cli, "open_dataset", lambda name, resolution, channels: toy_data())
    code, err = cli_result(train_args(tmp_path, "--steps", "3", "--resume"), capsys)
    assert code == 1 and len(err) == 1 and err[0].startswith(f"error: {tmp_path / 'checkpoint.pt'}: entry '{entry}'")
    assert folder_bytes(tmp_path) == before  # nothing rotated, trimmed or rewritten


# -- 13: a checkpoint written by a newer genae ----------------------------------------------------------------------
def test_a_checkpoint_from_a_newer_genae_is_refused_and_nothing_is_deleted(tmp_path, monkeypatch, capsys):
    toy_trainer(tmp_path, steps=2).fit()  # checkpoint.pt at step 2, checkpoint.prev.pt at step 1 (both current)
    state = load_checkpoint(tmp_path)
    torch.save({**state, "format": "genae-checkpoint/2", "genae_version": "9.0"}, tmp_path / "checkpoint.pt")
    before = folder_bytes(tmp_path)
    message = (rf"^{tmp_path / 'checkpoint.pt'}: written by a newer genae \(genae-checkpoint/2, genae 9.0; this is "
               rf"genae {genae.__version__}, which reads genae-checkpoint/1\): upgrade genae to resume it; "
               "nothing was changed$")
    with pytest.raises(CheckpointError, match=message):
        toy_trainer(tmp_path, steps=3).fit(resume=True)
    monkeypatch.setattr(train_cli, "open_dataset", lambda name, resolution, channels: toy_data())
    code, err = cli_result(train_args(tmp_path, "--steps", "3", "--resume"), capsys)
    assert code == 1 and len(err) == 1 and "written by a newer genae" in err[0] and "upgrade genae" in err[0]
    assert folder_bytes(tmp_path) == before


# -- issue 22 item 4: Ctrl-C writes a checkpoint the next --resume continues from exactly -----------------------------
class SelfInterruptingRecipe(ToyRecipe):
    """Sends itself SIGINT in the middle of step 4 (as a terminal's Ctrl-C would arrive, at any moment)."""

    def train_step(self, images, ctx):
        if ctx.step == 3:
            os.kill(os.getpid(), signal.SIGINT)
        return super().train_step(images, ctx)


@pytest.fixture
def terminal_sigint():
    """Python's own SIGINT handler, as under a terminal, whatever disposition the test run inherited."""
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    yield
    signal.signal(signal.SIGINT, previous)


def test_ctrl_c_checkpoints_the_step_and_the_resume_is_exact(tmp_path, terminal_sigint):
    straight = toy_trainer(tmp_path / "a", steps=8)
    straight.fit()
    interrupted = toy_trainer(tmp_path / "b", steps=8, recipe_class=SelfInterruptingRecipe)
    with pytest.raises(TrainingInterrupted, match=rf"^stopped at step 4; {tmp_path / 'b' / 'checkpoint.pt'} holds it"):
        interrupted.fit()
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler  # the handler is given back
    assert load_checkpoint(tmp_path / "b")["step"] == 4
    assert not (tmp_path / "b" / "model").exists()  # an interrupted run is not exported
    resumed = toy_trainer(tmp_path / "b", steps=8)
    resumed.fit(resume=True)
    logs = [(tmp_path / run / "metrics.jsonl").read_text().splitlines() for run in ("a", "b")]
    assert [json.loads(line)["losses"] for line in logs[1]] == [json.loads(line)["losses"] for line in logs[0]]
    for key, value in straight.model.state_dict().items():
        assert torch.equal(value, resumed.model.state_dict()[key]), key
    for key, value in straight.ema.shadow["decoder"].items():
        assert torch.equal(value, resumed.ema.shadow["decoder"][key]), key


# A job started in the background by a non-interactive shell (as CI may start the suite) inherits SIGINT
# ignored, and genae rightly leaves an ignored SIGINT alone; the child restores what a terminal gives it.
INTERRUPTED_TRAINING = textwrap.dedent("""
    import signal, sys
    signal.signal(signal.SIGINT, signal.default_int_handler)
    from genae.cli import main
    from genae.testing.toy_recipe import register_toy
    sys.exit(main(["train", register_toy(), "--data", "fashion-mnist-mini", "--resolution", "8", "--set", "width=4",
                   "--batch-size", "8", "--steps", "1000000", "--log-every", "1", "--checkpoint-every", "100000",
                   "--grid-every", "100000", "--no-progress", "--out", sys.argv[1]]))
""")


def test_sigint_to_a_training_process_leaves_a_resumable_checkpoint(tmp_path):
    """A real signal from outside, as a terminal's Ctrl-C: exit status 130, one line, a checkpoint to resume."""
    out = tmp_path / "run"
    process = subprocess.Popen([sys.executable, "-c", INTERRUPTED_TRAINING, str(out)], stderr=subprocess.PIPE,
                               text=True, env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)})
    try:
        log = out / "metrics.jsonl"
        deadline = time.monotonic() + 240  # a generous bound on start-up (importing torch), not a timing assertion
        while not (log.exists() and log.read_text().count("\n") >= 3):
            assert process.poll() is None and time.monotonic() < deadline, "training did not start"
            time.sleep(0.1)
        process.send_signal(signal.SIGINT)
        _, stderr = process.communicate(timeout=120)
    finally:
        process.kill()
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert process.returncode == 130, stderr
    step = load_checkpoint(out)["step"]
    assert lines[-1] == (f"error: interrupted: stopped at step {step}; {out / 'checkpoint.pt'} holds it, continue "
                         "with resume=True (--resume)")
    assert "interrupt: stopping after this step" in lines[0]
    assert [json.loads(line)["step"] for line in (out / "metrics.jsonl").read_text().splitlines()] == \
        list(range(1, step + 1))
