"""Atomic file writes: a reader never sees a half-written file, whatever happens mid-write."""

from __future__ import annotations

import contextlib
import ctypes
import errno
import json
import os
import re
import shutil
import tempfile
import warnings
from collections.abc import Collection, Iterator
from pathlib import Path
from typing import Any

#: Error numbers of a write that failed for lack of space (quota included).
DISK_FULL_ERRNOS = (errno.ENOSPC, errno.EDQUOT)


class DiskFullError(OSError):
    """A write failed for lack of space; the file or folder being replaced was left as it was."""

    def __init__(self, path: Path, outcome: str = "the partial file was removed; an earlier version is kept") -> None:
        super().__init__(f"{path}: not written, the disk is full (no space left on the device holding "
                         f"{path.parent}); {outcome}")
        self.errno = errno.ENOSPC
        self.filename = str(path)

    def __str__(self) -> str:
        return str(self.args[0])  # OSError's own form ("[Errno 28] …") once errno is set


def is_disk_full(error: BaseException) -> bool:
    """Whether ``error``, or an error it was raised from, is a lack of space.

    torch.save reports a failed write of its own as an ``enforce fail … unexpected pos`` RuntimeError with the
    Python ``OSError`` as its context; safetensors (Rust) writes ``(os error 28)`` into its message.
    """
    seen: BaseException | None = error
    while seen is not None:
        if isinstance(seen, OSError) and seen.errno in DISK_FULL_ERRNOS:
            return True
        if any(f"(os error {code})" in str(seen) for code in DISK_FULL_ERRNOS):
            return True
        seen = seen.__cause__ or seen.__context__
    return False


def resolve_link(path: Path) -> Path:
    """Where a write to ``path`` lands: the target of a symbolic link (the link is kept), else ``path``.

    Renaming a staged file or folder onto a link would replace the link itself and leave its target stale;
    writing through it is what ``cp`` does. A link to nothing is refused, as ``cp`` refuses it.
    """
    if not path.is_symlink():
        return path
    target = Path(os.path.realpath(path))
    if not target.exists():
        raise FileNotFoundError(f"{path}: a symbolic link to {target}, which does not exist; not writing through it")
    return target


def require_writable(folder: Path, what: Path) -> None:
    """Refuse to write ``what`` where ``cp`` or ``mv`` would be refused: into a folder without write permission.

    Checked with ``os.access``, as cp's own open would be: a user may not replace a folder made read-only
    (``chmod 555``) by swapping it through its writable parent; root may, exactly as root's ``cp`` may.
    """
    if folder.is_dir() and not os.access(folder, os.W_OK):
        why = "is on a read-only file system" if os.statvfs(folder).f_flag & os.ST_RDONLY else \
            f"is not writable by this user (mode {folder.stat().st_mode & 0o777:03o})"
        raise PermissionError(f"{what}: not written, the folder {folder} {why}; make it writable or choose another path")


@contextlib.contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; it replaces ``path`` only if the block succeeds.

    A symbolic link at ``path`` is written through (its target is replaced, the link kept).
    """
    path = resolve_link(Path(path))
    path.parent.mkdir(parents=True, exist_ok=True)
    require_writable(path.parent, path)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        os.chmod(tmp_path, _mode_of(path, 0o666))  # mkstemp makes 0600; keep the replaced file's mode
        with open(tmp_path, "rb+") as handle:
            os.fsync(handle.fileno())
        os.replace(tmp_path, path)
        fsync_path(path.parent)  # the rename itself survives a power cut
    except Exception as error:
        if is_disk_full(error):
            raise DiskFullError(path) from error
        raise
    finally:
        tmp_path.unlink(missing_ok=True)


@contextlib.contextmanager
def atomic_folder(path: str | Path, replaces: Collection[str] = ()) -> Iterator[Path]:
    """Yield an empty staging folder beside ``path``; it becomes ``path`` only if the block succeeds.

    Readers see the old folder or the new one, never a mix (a model whose weights and config disagree does
    not load). Entries of an existing ``path`` not named in ``replaces`` are carried into the new folder, so a
    user's other files survive. The staged files and both folders are fsynced before and after the swap.
    A symbolic link at ``path`` is written through (its target is swapped, the link kept); a folder the user
    may not write to is refused, as ``cp`` into it would be. After a successful swap, staging folders that
    killed saves left beside ``path`` are removed.
    """
    path = resolve_link(Path(path))
    if path.exists() and not path.is_dir():
        raise NotADirectoryError(f"{path}: exists and is not a folder")
    path.parent.mkdir(parents=True, exist_ok=True)
    require_writable(path, path)
    require_writable(path.parent, path)
    staged = Path(tempfile.mkdtemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent))
    try:
        yield staged
        for file in staged.rglob("*"):
            if file.is_file():
                os.chmod(file, 0o666 & ~_umask())  # the mode a plain open() gives, whatever wrote the file
                fsync_path(file)
        if path.is_dir():
            for entry in path.iterdir():
                if entry.name not in replaces and not (staged / entry.name).exists():
                    _copy_entry(entry, staged / entry.name)  # keeps its mode
                    for file in [staged / entry.name, *(staged / entry.name).rglob("*")]:
                        if file.is_file() and not file.is_symlink():
                            fsync_path(file)
        os.chmod(staged, _mode_of(path, 0o777))  # mkdtemp makes 0700; keep the replaced folder's mode
        fsync_path(staged)
        _swap_in(staged, path)
        fsync_path(path.parent)
    except Exception as error:
        if is_disk_full(error):
            raise DiskFullError(path, "the staging folder was removed; an earlier folder is kept") from error
        raise
    finally:
        shutil.rmtree(staged, ignore_errors=True)  # the failed stage, or the old folder after the swap
    _remove_stale_stages(path)


def _remove_stale_stages(path: Path) -> None:
    """Delete staging folders of ``path`` left by killed saves (exactly the names mkdtemp gives them here)."""
    stage = re.compile(rf"\.{re.escape(path.name)}\.[a-z0-9_]{{8}}\.tmp(\.old)?")
    for entry in path.parent.iterdir():
        if stage.fullmatch(entry.name) and entry.is_dir() and not entry.is_symlink():
            shutil.rmtree(entry, ignore_errors=True)


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


def _mode_of(path: Path, default: int) -> int:
    """The permission bits of what ``path`` is replacing (as ``cp`` onto it keeps them), else a new one's."""
    return path.stat().st_mode & 0o7777 if path.exists() else default & ~_umask()


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


def append_text(path: str | Path, text: str) -> None:
    """Append to a log; a full disk is named as such (a torn last line is what :func:`read_jsonl` drops)."""
    try:
        with open(path, "a", encoding="utf-8") as handle:
            handle.write(text)
    except OSError as error:
        if is_disk_full(error):
            raise DiskFullError(Path(path), "the last line may be cut short (a resume drops it)") from error
        raise


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


def format_version(tag: Any, family: str) -> int | None:
    """The ``N`` of a format tag ``family/N`` (``genae-model/1``); None for a tag of another family or none."""
    name, _, number = str(tag).rpartition("/")
    return int(number) if name == family and number.isdigit() else None


def cache_root() -> Path:
    """The one place that decides where genae caches files (converted weights, downloaded data, statistics):
    ``$GENAE_HOME/cache`` when set, else ``$XDG_CACHE_HOME/genae``, else ``~/.cache/genae``."""
    home = os.environ.get("GENAE_HOME")
    if home:
        return Path(home) / "cache"
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "genae"
