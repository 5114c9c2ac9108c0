"""Reliability, second pass (issue 25 items 1-5): full disks, killed saves, symlinks, read-only folders.

Each test builds the bad situation in a temporary folder and checks the one-line message names the file.
"""

from __future__ import annotations

import ctypes
import errno
import io
import json
import os
import subprocess
import sys
import tempfile
import textwrap

import pytest
import torch
from torch.utils.data import TensorDataset
from toy_cli import cli_result, toy_train_args

import genae
from genae.io import DiskFullError, atomic_path, write_text_atomic
from genae.testing.toy_recipe import register_toy
from genae.training import checkpoint as checkpoint_module
from genae.training import cli as train_cli
from genae.training.checkpoint import load_checkpoint


def toy(seed: int = 0, width: int = 4):
    torch.manual_seed(seed)
    return genae.create(register_toy(), resolution=8, width=width)


def toy_data() -> TensorDataset:
    return TensorDataset(torch.rand(16, 1, 8, 8, generator=torch.Generator().manual_seed(1)) * 2 - 1)


def train_args(out, *extra: str) -> list[str]:
    return toy_train_args(out, "--grid-every", "1000", *extra)


class FillingDisk(io.FileIO):
    """A file on a disk with ``room`` bytes left: writes beyond it fail with ENOSPC, as the kernel's do."""

    room = 0

    def write(self, data) -> int:
        if FillingDisk.room < len(data):
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        FillingDisk.room -= len(data)
        return super().write(data)


# -- 1: disk full while writing a checkpoint ------------------------------------------------------------------
def test_disk_full_during_a_checkpoint_is_named_and_keeps_the_previous_one(tmp_path, monkeypatch, capsys):
    """The real torch.save runs; only the file's writes fail (ENOSPC) once the first checkpoint is written."""
    monkeypatch.setattr(train_cli, "open_dataset", lambda name, resolution, channels: toy_data())
    saves = []

    def open_on_a_filling_disk(path, mode="r", *args, **kwargs):
        saves.append(path)
        FillingDisk.room = 10**9 if len(saves) == 1 else 1000  # the second save runs out after 1000 bytes
        return io.BufferedWriter(FillingDisk(path, "w"))

    monkeypatch.setattr(checkpoint_module, "open", open_on_a_filling_disk, raising=False)
    out = tmp_path / "run"
    code, err = cli_result(train_args(out, "--steps", "3", "--checkpoint-every", "1"), capsys)
    assert code == 1
    assert err == [f"error: {out / 'checkpoint.pt'}: not written, the disk is full (no space left on the device "
                   f"holding {out}); the partial file was removed; an earlier version is kept; free some space, "
                   "then continue with --resume"]
    assert load_checkpoint(out)["step"] == 1  # the previous checkpoint, untouched
    assert sorted(p.name for p in out.iterdir()) == ["checkpoint.pt"]  # no temporary file


def test_disk_full_is_recognised_through_safetensors_and_plain_writes(tmp_path, monkeypatch):
    saved = toy().save_pretrained(tmp_path / "model")
    before = (saved / "model.safetensors").read_bytes()

    def full(*args, **kwargs):
        raise RuntimeError("Error while serializing: I/O error: No space left on device (os error 28)")

    monkeypatch.setattr("safetensors.torch.save_file", full)
    with pytest.raises(DiskFullError, match=rf"^{saved}: not written, the disk is full .*an earlier folder is kept$"):
        toy(width=8).save_pretrained(saved)
    assert (saved / "model.safetensors").read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model"]
    with pytest.raises(DiskFullError, match=r"notes.txt: not written, the disk is full"), \
            atomic_path(tmp_path / "notes.txt"):
        raise OSError(errno.EDQUOT, "Disk quota exceeded")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model"]


def _mount_tmpfs(folder, size: int) -> bool:
    folder.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(folder)], capture_output=True)
    return done.returncode == 0


def test_a_real_full_tmpfs_during_training(tmp_path, monkeypatch, capsys):
    """The issue's report: a small tmpfs as --out. Needs the right to mount (root here); skipped elsewhere."""
    monkeypatch.setattr(train_cli, "open_dataset", lambda name, resolution, channels: toy_data())
    probe = tmp_path / "probe"
    assert cli_result(train_args(probe, "--steps", "1"), capsys)[0] == 0
    size = (probe / "checkpoint.pt").stat().st_size
    disk = tmp_path / "disk"
    if not _mount_tmpfs(disk, size * 5 // 2):  # room for two checkpoints (current + previous), not a third
        pytest.skip("cannot mount a tmpfs here (needs root or CAP_SYS_ADMIN)")
    try:
        out = disk / "run"
        code, err = cli_result(train_args(out, "--steps", "6", "--checkpoint-every", "1"), capsys)
        assert code == 1 and len(err) == 1, err
        assert err[0].startswith(f"error: {out / 'checkpoint.pt'}: not written, the disk is full"), err
        assert load_checkpoint(out)["step"] == 2
        assert not list(out.glob(".checkpoint.pt.*.tmp"))
    finally:
        subprocess.run(["umount", str(disk)], check=True)


# -- 2: a temporary file left by a kill during the first checkpoint write ----------------------------------------
def test_a_run_killed_during_its_first_checkpoint_resumes_from_step_0(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(train_cli, "open_dataset", lambda name, resolution, channels: toy_data())
    out = tmp_path / "run"
    out.mkdir()
    (out / ".checkpoint.pt.k1ll3d00.tmp").write_bytes(b"PK\x03\x04 torn by a kill")
    (out / "metrics.jsonl").write_text('{"step": 1, "losses": {}}\n')
    code, err = cli_result(train_args(out, "--steps", "2"), capsys)
    assert code == 1 and len(err) == 1
    assert "holds a run stopped during its first checkpoint write; resume it" in err[0]
    with pytest.warns(RuntimeWarning, match=rf"^{out}: no checkpoint was completed before the run stopped "
                      r"\(\.checkpoint\.pt\.k1ll3d00\.tmp: incomplete, left by a kill during the first checkpoint "
                      r"write\); starting from step 0$"):
        code, err = cli_result(train_args(out, "--steps", "2", "--resume", "--log-every", "1"), capsys)
    assert code == 0, err
    assert load_checkpoint(out)["step"] == 2
    assert not list(out.glob(".checkpoint.pt.*.tmp"))
    assert [json.loads(line)["step"] for line in (out / "metrics.jsonl").read_text().splitlines()] == [1, 2]


# -- 3: staging folders left by killed saves -------------------------------------------------------------------
def test_the_next_save_removes_staging_folders_left_by_killed_saves(tmp_path):
    folder = tmp_path / "model"
    toy().save_pretrained(folder)
    stale = [tempfile.mkdtemp(prefix=".model.", suffix=".tmp", dir=tmp_path) for _ in range(2)]
    (tmp_path / f"{os.path.basename(stale[0])}.old").mkdir()  # the portable swap's retired folder
    for stage in stale:
        (tmp_path / stage / "model.safetensors").write_bytes(b"x" * 1000)
    neighbours = [tempfile.mkdtemp(prefix=".model.v2.", suffix=".tmp", dir=tmp_path), str(tmp_path / "model.v2")]
    os.mkdir(neighbours[1])
    toy(width=8).save_pretrained(folder)
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(["model", *map(os.path.basename, neighbours)])
    assert genae.load(folder).config.width == 8


# -- 4: a symbolic link as the target -----------------------------------------------------------------------------
def test_saving_onto_a_symlinked_folder_writes_through_the_link(tmp_path):
    toy(width=4).save_pretrained(tmp_path / "v1")
    (tmp_path / "current").symlink_to("v1")
    toy(seed=1, width=8).save_pretrained(tmp_path / "current")
    assert os.readlink(tmp_path / "current") == "v1"  # the link is kept
    assert genae.load(tmp_path / "v1").config.width == 8  # its target was replaced
    assert sorted(p.name for p in tmp_path.iterdir()) == ["current", "v1"]  # no stray link or staging folder
    (tmp_path / "gone").symlink_to("missing")
    with pytest.raises(FileNotFoundError, match=rf"^{tmp_path / 'gone'}: a symbolic link to {tmp_path / 'missing'}, "
                                                "which does not exist"):
        toy().save_pretrained(tmp_path / "gone")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["current", "gone", "v1"]


def test_writing_a_file_through_a_symlink_keeps_the_link(tmp_path):
    (tmp_path / "real.txt").write_text("old")
    (tmp_path / "link.txt").symlink_to("real.txt")
    write_text_atomic(tmp_path / "link.txt", "new")
    assert (tmp_path / "link.txt").is_symlink() and (tmp_path / "real.txt").read_text() == "new"


# -- 5: a folder the user cannot write -----------------------------------------------------------------------------
UNPRIVILEGED_SAVE = textwrap.dedent("""
    import subprocess, sys
    from pathlib import Path
    import torch, genae
    from genae.testing.toy_recipe import register_toy
    folder = Path(sys.argv[1])
    cp = subprocess.run(["cp", str(folder / "config.json"), str(folder / "copy.json")], capture_output=True)
    print("cp", cp.returncode)
    try:
        genae.create(register_toy(), resolution=8, width=8).save_pretrained(folder)
    except PermissionError as error:
        print("refused", error)
""")

CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH, PR_CAPBSET_DROP = 1, 2, 24


def _drop_permission_override() -> None:
    """In the child: give up root's right to ignore permission bits (it then meets them as any user does)."""
    libc = ctypes.CDLL(None, use_errno=True)
    for capability in (CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH):
        if libc.prctl(PR_CAPBSET_DROP, capability, 0, 0, 0) != 0:
            raise OSError(ctypes.get_errno(), "prctl(PR_CAPBSET_DROP)")


def test_replacing_a_folder_or_file_keeps_its_permissions(tmp_path):
    folder = toy().save_pretrained(tmp_path / "private")
    folder.chmod(0o700)
    (tmp_path / "notes.txt").write_text("old")
    (tmp_path / "notes.txt").chmod(0o600)
    toy(width=8).save_pretrained(folder)
    write_text_atomic(tmp_path / "notes.txt", "new")
    assert (folder.stat().st_mode & 0o777, (tmp_path / "notes.txt").stat().st_mode & 0o777) == (0o700, 0o600)


def test_a_read_only_model_folder_is_refused_as_cp_refuses_it(tmp_path):
    folder = toy(width=4).save_pretrained(tmp_path / "model")
    before = sorted(p.name for p in tmp_path.iterdir()), (folder / "model.safetensors").read_bytes()
    folder.chmod(0o555)
    try:
        try:
            done = subprocess.run([sys.executable, "-c", UNPRIVILEGED_SAVE, str(folder)], capture_output=True,
                                  text=True, preexec_fn=_drop_permission_override if os.geteuid() == 0 else None,
                                  env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}, timeout=300)
        except subprocess.SubprocessError as error:
            if isinstance(error, subprocess.TimeoutExpired):
                raise
            pytest.skip(f"cannot drop root's permission override here: {error}")  # prctl refused in preexec_fn
        assert done.returncode == 0, done.stderr
        lines = done.stdout.splitlines()
        assert lines[0] == "cp 1"  # cp into the folder is refused ...
        assert lines[1] == (f"refused {folder}: not written, the folder {folder} is not writable by this user "
                            "(mode 555); make it writable or choose another path")  # ... and so is the save
        assert (sorted(p.name for p in tmp_path.iterdir()), (folder / "model.safetensors").read_bytes()) == before
        assert folder.stat().st_mode & 0o777 == 0o555
    finally:
        folder.chmod(0o755)
