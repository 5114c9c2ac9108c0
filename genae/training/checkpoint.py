"""Training checkpoints: atomic, safe to load, and complete enough to resume bit-exactly.

A checkpoint holds only tensors and plain Python containers, written with ``torch.save`` and read with
``torch.load(weights_only=True)``, so loading one never runs code. Writing goes to a temporary file that
replaces ``checkpoint.pt`` only once complete; the checkpoint it replaces is kept as
``checkpoint.prev.pt``. A crash at any moment therefore leaves at least one complete checkpoint.
"""

from __future__ import annotations

import os
import random
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import torch

from genae.io import atomic_path

CHECKPOINT_NAME = "checkpoint.pt"
PREVIOUS_NAME = "checkpoint.prev.pt"
FORMAT = "genae-checkpoint/1"


class CheckpointError(RuntimeError):
    """No usable checkpoint where one was expected."""


def save_checkpoint(state: dict[str, Any], out_dir: str | Path) -> Path:
    """Write ``state`` as ``out_dir/checkpoint.pt``; the previous one becomes ``checkpoint.prev.pt``."""
    out_dir = Path(out_dir)
    path = out_dir / CHECKPOINT_NAME
    with atomic_path(path) as tmp:
        torch.save({"format": FORMAT, **state}, tmp)
        if path.exists():
            os.replace(path, out_dir / PREVIOUS_NAME)
    return path


def load_checkpoint(out_dir: str | Path) -> dict[str, Any]:
    """The newest readable checkpoint in ``out_dir`` (falling back to the previous one, with a warning)."""
    out_dir = Path(out_dir)
    problems = []
    for name in (CHECKPOINT_NAME, PREVIOUS_NAME):
        path = out_dir / name
        if not path.is_file():
            problems.append(f"{name}: missing")
            continue
        try:
            state = torch.load(path, map_location="cpu", weights_only=True)
        except Exception as error:  # noqa: BLE001 - any unreadable file falls back to the previous one
            problems.append(f"{name}: unreadable ({type(error).__name__}: {error})")
            continue
        if not isinstance(state, dict) or state.get("format") != FORMAT:
            problems.append(f"{name}: not a {FORMAT} file")
            continue
        if problems:
            warnings.warn(f"{out_dir}: using {name} ({'; '.join(problems)})", RuntimeWarning, stacklevel=2)
        return state
    raise CheckpointError(f"{out_dir}: no usable checkpoint ({'; '.join(problems)})")


def has_checkpoint(out_dir: str | Path) -> bool:
    out_dir = Path(out_dir)
    return (out_dir / CHECKPOINT_NAME).is_file() or (out_dir / PREVIOUS_NAME).is_file()


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
