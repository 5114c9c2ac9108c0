"""One CLI vocabulary (issue 21 item 10): progress, -n/--num, --device, --json, plain progress lines when stderr
is redirected, one cache root honouring XDG_CACHE_HOME, optional TensorBoard logging."""

from __future__ import annotations

import io
import json
import sys
import types

import pytest
import torch
from click.testing import CliRunner
from torch.utils.data import TensorDataset

import genae
from genae.cli import cli
from genae.progress import NoProgress, PlainProgress, progress_bar, progress_iter


def invoke(*args):
    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


def test_progress_iter_yields_every_item_and_reports_the_length():
    stream = io.StringIO()
    assert list(progress_iter(range(4), desc="models", unit="model", stream=stream)) == [0, 1, 2, 3]
    assert stream.getvalue().splitlines()[-1] == "models: 4/4 model (100%)"
    silent = io.StringIO()
    assert list(progress_iter(iter("ab"), desc="x", enabled=False, stream=silent)) == ["a", "b"]
    assert silent.getvalue() == ""


def test_plain_lines_when_not_a_terminal_and_a_bar_on_one():
    stream = io.StringIO()
    bar = progress_bar(50, desc="train", unit="step", stream=stream)
    assert isinstance(bar, PlainProgress)
    with bar:
        for step in range(50):
            bar.update()
            if step == 20:
                bar.set_postfix_str("loss 0.5")
    lines = stream.getvalue().splitlines()
    assert lines[0] == "train: 5/50 step (10%)" and lines[-1] == "train: 50/50 step (100%), loss 0.5"
    assert len(lines) == 10 and "\r" not in stream.getvalue() and "\x1b" not in stream.getvalue()
    unknown = io.StringIO()
    with progress_bar(None, desc="x", stream=unknown, every=3) as open_ended:
        open_ended.update(7)
        open_ended.update(1)
    assert unknown.getvalue().splitlines() == ["x: 7 it", "x: 8 it"]
    assert isinstance(progress_bar(5, desc="x", enabled=False), NoProgress)

    class Terminal(io.StringIO):
        def isatty(self):
            return True

    from tqdm.auto import tqdm

    bar = progress_bar(5, desc="x", stream=Terminal())
    assert isinstance(bar, tqdm)
    bar.close()


def test_trainer_writes_plain_progress_lines_to_a_redirected_stderr(toy_name, tmp_path, capsys):
    from genae.testing.toy_recipe import ToyRecipe
    from genae.training import Trainer

    model = genae.create(toy_name, resolution=16, width=8)
    data = TensorDataset(torch.rand(16, 1, 16, 16) * 2 - 1)
    Trainer(model, ToyRecipe(model), data, out_dir=tmp_path, steps=10, log_every=5, grid_every=None,
            checkpoint_every=None, progress=True).fit()
    err = capsys.readouterr().err
    assert "train: 10/10 step (100%)" in err and "\r" not in err


def test_list_and_info_speak_json(toy_name):
    rows = json.loads(invoke("list", "--json", "vae*").output)
    assert {"name": "vae", "plugin": "baselines"}.items() <= rows[[r["name"] for r in rows].index("vae")].items()
    weights = json.loads(invoke("list", "--pretrained", "--json", "vae-fashion*").output)
    assert weights == [{"name": "vae-fashion-mnist-32", "architecture": "vae", "dataset": "fashion-mnist",
                        "resolution": "32", "status": "bundled"}]
    info = json.loads(invoke("info", "vae", "--json").output)
    assert info["architecture"] == "vae" and info["parameters"] > 0 and "vae-fashion-mnist-32" in info["pretrained"]
    card = json.loads(invoke("info", "vae-fashion-mnist-32", "--json").output)
    assert card["loads"] is True and card["status"] == "bundled" and card["card"].startswith("---")


def test_count_device_and_progress_flags_read_the_same_everywhere():
    for command in (["sample"], ["reconstruct"], ["mix"], ["interpolate"], ["invert"]):
        help_text = " ".join(invoke(*command, "--help").output.split())
        assert "-n, --num INTEGER RANGE" in help_text, command
        assert "[default: (cuda when available, else cpu)]" in help_text, command
    assert "--progress / --no-progress" in invoke("invert", "--help").output
    assert "--progress / --no-progress" in invoke("train", "--help").output
    assert "--frames" in invoke("interpolate", "--help").output


def test_an_architecture_name_means_its_default_weights(tmp_path):
    result = CliRunner().invoke(cli, ["sample", "vae", "--num", "4", "--device", "cpu", "--out",
                                      str(tmp_path / "s.png")], catch_exceptions=False)
    assert result.exit_code == 0 and (tmp_path / "s.png").is_file()
    assert "using its default weights 'vae-fashion-mnist-32'" in result.output
    result = CliRunner().invoke(cli, ["sample", "automodulator-paper", "--out", str(tmp_path / "t.png")])
    assert result.exit_code == 2 and "without pretrained weights" in result.output
    result = CliRunner().invoke(cli, ["interpolate", "vae", "-n", "2", "--frames", "3", "--device", "cpu",
                                      "--out", str(tmp_path / "i.png")], catch_exceptions=False)
    assert result.exit_code == 0, result.output


def test_one_cache_root_honours_genae_home_then_xdg(tmp_path, monkeypatch):
    from genae.data.fashion import download_dir
    from genae.io import cache_root

    monkeypatch.delenv("GENAE_HOME", raising=False)
    monkeypatch.delenv("GENAE_DATA", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert cache_root() == tmp_path / "xdg" / "genae"
    assert download_dir(None) == tmp_path / "xdg" / "genae" / "fashion-mnist"
    monkeypatch.delenv("XDG_CACHE_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert cache_root() == tmp_path / "home" / ".cache" / "genae"
    monkeypatch.setenv("GENAE_HOME", str(tmp_path / "g"))
    assert cache_root() == tmp_path / "g" / "cache"


class RecordingWriter:
    instances: list = []

    def __init__(self, log_dir, purge_step=None):
        self.log_dir, self.purge_step, self.scalars, self.closed = log_dir, purge_step, [], False
        RecordingWriter.instances.append(self)

    def add_scalar(self, tag, value, step):
        self.scalars.append((tag, step))

    def close(self):
        self.closed = True


def _toy_run(toy_name, tmp_path, **kwargs):
    from genae.testing.toy_recipe import ToyRecipe
    from genae.training import Trainer

    model = genae.create(toy_name, resolution=16, width=8)
    data = TensorDataset(torch.rand(16, 1, 16, 16) * 2 - 1)
    return Trainer(model, ToyRecipe(model), data, out_dir=tmp_path, log_every=2, grid_every=None,
                   checkpoint_every=None, progress=False, **kwargs)


def test_trainer_logs_to_tensorboard_through_its_writer(toy_name, tmp_path, monkeypatch):
    """The wiring, with a recording stand-in for torch's SummaryWriter (runs without the tensorboard package)."""
    fake = types.ModuleType("torch.utils.tensorboard")
    fake.SummaryWriter = RecordingWriter
    monkeypatch.setitem(sys.modules, "torch.utils.tensorboard", fake)
    RecordingWriter.instances = []
    _toy_run(toy_name, tmp_path, steps=4, tensorboard=True).fit()
    (writer,) = RecordingWriter.instances
    assert writer.log_dir == str(tmp_path / "tensorboard") and writer.closed and writer.purge_step == 2
    assert {tag for tag, _ in writer.scalars} >= {"lr", "images_per_s", "resolution", "alpha"}
    assert any(tag.startswith("loss/") for tag, _ in writer.scalars) and {s for _, s in writer.scalars} == {2, 4}


def test_tensorboard_without_its_package_is_one_line(toy_name, tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "torch.utils.tensorboard", None)
    with pytest.raises(ImportError, match=r"pip install .genae\[tensorboard\]."):
        _toy_run(toy_name, tmp_path, steps=2, tensorboard=True)


def test_tensorboard_event_files_when_installed(toy_name, tmp_path):
    pytest.importorskip("tensorboard", reason="the optional [tensorboard] extra is not installed (dev installs it)")
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    _toy_run(toy_name, tmp_path, steps=4, tensorboard=True).fit()
    events = EventAccumulator(str(tmp_path / "tensorboard"))
    events.Reload()
    records = [json.loads(line) for line in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    assert [e.step for e in events.Scalars("lr")] == [r["step"] for r in records] == [2, 4]
    term = next(iter(records[-1]["losses"]))
    assert events.Scalars(f"loss/{term}")[-1].value == pytest.approx(records[-1]["losses"][term], rel=1e-6)
