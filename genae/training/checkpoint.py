"""Training checkpoints: atomic, safe to load, and complete enough to resume bit-exactly.

A checkpoint holds only tensors and plain Python containers, written with ``torch.save`` and read with
``torch.load(weights_only=True)``, so loading one never runs code. Writing goes to a temporary file that is
flushed to disk, then the current ``checkpoint.pt`` becomes ``checkpoint.prev.pt`` and the temporary file
becomes ``checkpoint.pt`` (the folder is fsynced after the renames). A kill at any moment therefore leaves
at least one complete checkpoint, and :func:`find_checkpoint` finds the newest complete one, including a
flushed temporary file left by a kill between the two renames.
"""

from __future__ import annotations

import os
import random
import shutil
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import torch

from genae._version import __version__
from genae.io import atomic_path, format_version, fsync_path

CHECKPOINT_NAME = "checkpoint.pt"
PREVIOUS_NAME = "checkpoint.prev.pt"
TEMPORARY_PATTERN = f".{CHECKPOINT_NAME}.*.tmp"  # what genae.io.atomic_path names its staging files
FORMAT_FAMILY, FORMAT_VERSION = "genae-checkpoint", 1
FORMAT = f"{FORMAT_FAMILY}/{FORMAT_VERSION}"
#: What the Trainer reads back on resume; a file without one of these is not a usable checkpoint.
STATE_KEYS = (
    "step", "images_seen", "wall_time_s", "seed", "architecture", "model_config", "model", "optimizers",
    "scalers", "ema", "recipe", "recipe_modules", "data_order", "log_window", "rng",
)


class CheckpointError(RuntimeError):
    """No usable checkpoint where one was expected."""


def save_checkpoint(state: dict[str, Any], out_dir: str | Path) -> Path:
    """Write ``state`` as ``out_dir/checkpoint.pt``; the previous one becomes ``checkpoint.prev.pt``.

    A full disk raises :class:`genae.io.DiskFullError` naming the file; ``checkpoint.pt`` is then untouched.
    """
    out_dir = Path(out_dir)
    path = out_dir / CHECKPOINT_NAME
    remove_temporaries(out_dir)  # left by a killed run; this save supersedes them
    with atomic_path(path) as tmp:
        # Through a Python file: torch's own writer reports a full disk as "enforce fail … unexpected pos",
        # with the OSError (ENOSPC) only as the context of that error when Python did the writing.
        with open(tmp, "wb") as handle:
            torch.save({"format": FORMAT, "genae_version": __version__, **state}, handle)
        fsync_path(tmp)  # complete on disk before the rename that retires the current checkpoint
        if path.exists():
            os.replace(path, out_dir / PREVIOUS_NAME)
    return path


def remove_temporaries(out_dir: str | Path) -> None:
    for stale in Path(out_dir).glob(TEMPORARY_PATTERN):
        stale.unlink(missing_ok=True)


def load_checkpoint(out_dir: str | Path, required: tuple[str, ...] = STATE_KEYS) -> dict[str, Any]:
    """The newest complete checkpoint in ``out_dir`` (see :func:`find_checkpoint`); an error if there is none."""
    found = find_checkpoint(out_dir, required)
    if found is None:
        raise CheckpointError(f"{out_dir}: no checkpoint was completed yet (only an incomplete temporary file)")
    return found[1]


def find_checkpoint(out_dir: str | Path, required: tuple[str, ...] = STATE_KEYS) -> tuple[Path, dict[str, Any]] | None:
    """The newest complete checkpoint in ``out_dir`` and its file, with a warning when it is not ``checkpoint.pt``.

    ``checkpoint.pt`` is the newest when it is complete; otherwise the highest step among the previous
    checkpoint and any flushed temporary file (a kill between the two renames of a save) wins. A folder whose
    only checkpoint files are incomplete temporary files belongs to a run killed during its first save: None,
    with a warning (the run starts from step 0). A file written by a newer genae is refused, never skipped, so
    that a resume cannot rotate it away.
    """
    out_dir = Path(out_dir)
    problems: list[str] = []
    path = out_dir / CHECKPOINT_NAME
    state = _read_complete(path, required, problems)
    if state is not None:
        return path, state
    best: tuple[Path, dict[str, Any]] | None = None
    temporaries = sorted(out_dir.glob(TEMPORARY_PATTERN))
    for path in [*temporaries, out_dir / PREVIOUS_NAME]:
        candidate = _read_complete(path, required, problems)
        if candidate is not None and (best is None or int(candidate["step"]) > int(best[1]["step"])):
            best = (path, candidate)
    if best is None and temporaries and not any((out_dir / n).exists() for n in (CHECKPOINT_NAME, PREVIOUS_NAME)):
        names = ", ".join(path.name for path in temporaries)
        warnings.warn(f"{out_dir}: no checkpoint was completed before the run stopped ({names}: incomplete, "
                      "left by a kill during the first checkpoint write); starting from step 0", RuntimeWarning,
                      stacklevel=2)
        return None
    if best is None:
        raise CheckpointError(f"{out_dir}: no usable checkpoint ({'; '.join(problems)})")
    warnings.warn(
        f"{out_dir}: using {best[0].name} (step {best[1]['step']}): {'; '.join(problems)}", RuntimeWarning,
        stacklevel=2,
    )
    return best


def _read_complete(path: Path, required: tuple[str, ...], problems: list[str]) -> dict[str, Any] | None:
    """The checkpoint at ``path`` if it is readable and complete; else None, with the reason in ``problems``."""
    if not path.is_file():
        problems.append(f"{path.name}: missing")
        return None
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # noqa: BLE001 - any unreadable file falls back to an older one
        problems.append(f"{path.name}: unreadable ({type(error).__name__}: {first_line(error)})")
        return None
    version = format_version(state.get("format"), FORMAT_FAMILY) if isinstance(state, dict) else None
    if version is None:
        problems.append(f"{path.name}: not a {FORMAT} file")
        return None
    if version > FORMAT_VERSION:
        raise CheckpointError(
            f"{path}: written by a newer genae ({state['format']}, genae {state.get('genae_version', 'unknown')}; "
            f"this is genae {__version__}, which reads {FORMAT}): upgrade genae to resume it; nothing was changed"
        )
    missing = [key for key in required if key not in state]
    if missing:
        problems.append(f"{path.name}: incomplete (missing keys {missing})")
        return None
    return state


def first_line(error: BaseException) -> str:
    """An error's first line: enough to name what went wrong without PyTorch's multi-line C++ context."""
    text = str(error).strip()
    return text.splitlines()[0] if text else ""


def has_checkpoint(out_dir: str | Path) -> bool:
    """True when ``out_dir`` holds anything :func:`find_checkpoint` would try (a run to resume)."""
    out_dir = Path(out_dir)
    names = (CHECKPOINT_NAME, PREVIOUS_NAME)
    return any((out_dir / name).is_file() for name in names) or any(out_dir.glob(TEMPORARY_PATTERN))


def claim_output_folder(out_dir: str | Path, overwrite: bool, outputs: tuple[str, ...], remove: bool) -> None:
    """Make sure a fresh run may write to ``out_dir``: it must be absent or empty unless ``overwrite``.

    A folder holding a checkpoint is a run to resume; any other content may be a user's files, so a fresh
    run never writes over it silently. With ``overwrite`` (and ``remove``: the writing rank) the earlier
    run's ``outputs`` and checkpoints are deleted; other files are left alone.
    """
    out_dir = Path(out_dir)
    if out_dir.exists() and not out_dir.is_dir():
        raise FileExistsError(f"{out_dir} is a file, not an output folder")
    entries = sorted(p.name for p in out_dir.iterdir()) if out_dir.is_dir() else []
    if not entries:
        return
    if not overwrite:
        shown = ", ".join(entries[:5]) + (f" and {len(entries) - 5} more" if len(entries) > 5 else "")
        if any((out_dir / name).is_file() for name in (CHECKPOINT_NAME, PREVIOUS_NAME)):
            reason = "already holds a checkpoint; resume it (resume=True / --resume)"
        elif has_checkpoint(out_dir):
            reason = ("holds a run stopped during its first checkpoint write; resume it (resume=True / --resume: "
                      "from that checkpoint if it is complete, else from step 0)")
        else:
            reason = f"is not empty ({shown}) and holds no checkpoint to resume; empty it"
        raise FileExistsError(
            f"{out_dir} {reason}, choose another output folder, or overwrite it (overwrite=True / --overwrite)"
        )
    if remove:
        remove_temporaries(out_dir)
        for name in (CHECKPOINT_NAME, PREVIOUS_NAME, *outputs):
            target = out_dir / name
            if target.is_dir() and not target.is_symlink():
                shutil.rmtree(target)
            else:
                target.unlink(missing_ok=True)


def rng_state(generator: torch.Generator) -> dict[str, Any]:
    """Every random stream the training step may draw from, as tensors and plain containers."""
    version, mt_state, gauss = random.getstate()
    numpy_state = np.random.get_state(legacy=False)
    return {
        "python": [version, list(mt_state), gauss],
        "numpy": {
            "bit_generator": numpy_state["bit_generator"],
            "key": torch.from_numpy(numpy_state["state"]["key"].astype(np.int64)),
            "pos": int(numpy_state["state"]["pos"]),
            "has_gauss": int(numpy_state["has_gauss"]),
            "gauss": float(numpy_state["gauss"]),
        },
        "torch": torch.get_rng_state(),
        "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_initialized() else [],
        "generator": generator.get_state(),
    }


def set_rng_state(state: dict[str, Any], generator: torch.Generator) -> None:
    version, mt_state, gauss = state["python"]
    random.setstate((version, tuple(mt_state), gauss))
    numpy_state = state["numpy"]
    np.random.set_state(
        {
            "bit_generator": numpy_state["bit_generator"],
            "state": {"key": numpy_state["key"].numpy().astype(np.uint32), "pos": numpy_state["pos"]},
            "has_gauss": numpy_state["has_gauss"],
            "gauss": numpy_state["gauss"],
        }
    )
    torch.set_rng_state(state["torch"])
    if state["cuda"] and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])
    generator.set_state(state["generator"])
