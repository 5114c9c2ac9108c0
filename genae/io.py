"""Atomic file writes: a reader never sees a half-written file, whatever happens mid-write."""

from __future__ import annotations

import contextlib
import ctypes
import errno
import json
import os
import shutil
import tempfile
import warnings
from collections.abc import Collection, Iterator
from pathlib import Path
from typing import Any


@contextlib.contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; it replaces ``path`` only if the block succeeds."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        os.chmod(tmp_path, 0o666 & ~_umask())  # mkstemp makes 0600; give the mode a plain open() would
        with open(tmp_path, "rb+") as handle:
            os.fsync(handle.fileno())
        os.replace(tmp_path, path)
        fsync_path(path.parent)  # the rename itself survives a power cut
    finally:
        tmp_path.unlink(missing_ok=True)


@contextlib.contextmanager
def atomic_folder(path: str | Path, replaces: Collection[str] = ()) -> Iterator[Path]:
    """Yield an empty staging folder beside ``path``; it becomes ``path`` only if the block succeeds.

    Readers see the old folder or the new one, never a mix (a model whose weights and config disagree does
    not load). Entries of an existing ``path`` not named in ``replaces`` are carried into the new folder, so a
    user's other files survive. The staged files and both folders are fsynced before and after the swap.
    """
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise NotADirectoryError(f"{path}: exists and is not a folder")
    path.parent.mkdir(parents=True, exist_ok=True)
    staged = Path(tempfile.mkdtemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent))
    try:
        yield staged
        for file in staged.rglob("*"):
            if file.is_file():
                os.chmod(file, 0o666 & ~_umask())  # the mode a plain open() gives, whatever wrote the file
                fsync_path(file)
        os.chmod(staged, 0o777 & ~_umask())  # mkdtemp makes 0700; give the mode a plain mkdir would
        if path.is_dir():
            for entry in path.iterdir():
                if entry.name not in replaces and not (staged / entry.name).exists():
                    _copy_entry(entry, staged / entry.name)  # keeps its mode
                    for file in [staged / entry.name, *(staged / entry.name).rglob("*")]:
                        if file.is_file() and not file.is_symlink():
                            fsync_path(file)
        fsync_path(staged)
        _swap_in(staged, path)
        fsync_path(path.parent)
    finally:
        shutil.rmtree(staged, ignore_errors=True)  # the failed stage, or the old folder after the swap


def _swap_in(staged: Path, path: Path) -> None:
    """Replace ``path`` by ``staged``; afterwards ``staged`` holds the old folder (if any) for deletion.

    Linux exchanges the two names in one atomic step; elsewhere two renames leave a moment where ``path`` is
    absent (the old folder is then at ``staged``, and restored if the second rename fails).
    """
    if not path.exists():
        os.replace(staged, path)
        return
    if _exchange(staged, path):
        return
    retired = staged.with_name(staged.name + ".old")
    os.replace(path, retired)
    try:
        os.replace(staged, path)
    except OSError:
        os.replace(retired, path)
        raise
    os.replace(retired, staged)


def _exchange(a: Path, b: Path) -> bool:
    """Atomically swap two paths with Linux ``renameat2(RENAME_EXCHANGE)``; False where unsupported."""
    renameat2 = getattr(ctypes.CDLL(None, use_errno=True), "renameat2", None)
    if renameat2 is None:
        return False
    at_fdcwd, rename_exchange = -100, 2
    if renameat2(at_fdcwd, os.fsencode(a), at_fdcwd, os.fsencode(b), rename_exchange) == 0:
        return True
    code = ctypes.get_errno()
    if code in (errno.EINVAL, errno.ENOSYS, errno.EOPNOTSUPP):  # a file system without exchange
        return False
    raise OSError(code, os.strerror(code), str(b))


def _copy_entry(source: Path, target: Path) -> None:
    if source.is_dir() and not source.is_symlink():
        shutil.copytree(source, target, symlinks=True)
    else:
        shutil.copy2(source, target, follow_symlinks=False)


def fsync_path(path: str | Path) -> None:
    """Flush a file's data, or a folder's entries (renames in it), to disk."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def write_text_atomic(path: str | Path, text: str) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")


def write_bytes_atomic(path: str | Path, data: bytes) -> None:
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)


def read_jsonl(path: str | Path) -> list[dict[str, Any]]:
    """The records of a JSON-lines log; a bad line is an error naming the file and line.

    Only a last line without its newline that does not parse (a write cut short by a kill) is dropped, with
    a warning: appending is how logs are written, so that is the one damage a crash can cause.
    """
    path = Path(path)
    text = path.read_text(encoding="utf-8")
    lines = text.split("\n")
    records = []
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as error:
            if number == len(lines):  # no newline after it: torn
                warnings.warn(f"{path} line {number} is incomplete (a write cut short); dropping it",
                              RuntimeWarning, stacklevel=2)
                break
            raise ValueError(f"{path} line {number}: not JSON ({error}); fix or delete that line") from error
        if not isinstance(record, dict):
            raise ValueError(f"{path} line {number}: expected a JSON object, got {type(record).__name__}")
        records.append(record)
    return records


def cache_root() -> Path:
    """Where genae caches derived files: ``$GENAE_HOME/cache`` when set, else ``~/.cache/genae``."""
    home = os.environ.get("GENAE_HOME")
    return Path(home) / "cache" if home else Path.home() / ".cache" / "genae"
