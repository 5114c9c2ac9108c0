"""Training: the generic :class:`Trainer`, the :class:`Recipe` protocol, schedules and EMA.

Names load on first use, so importing ``genae.training.cli`` (for ``genae --help``) does not import torch.
"""

from __future__ import annotations

import importlib
from typing import Any

_LAZY = {
    "EMA": "genae.training.ema",
    "Phase": "genae.training.recipe",
    "Recipe": "genae.training.recipe",
    "StepContext": "genae.training.recipe",
    "ProgressiveSchedule": "genae.training.schedule",
    "Schedule": "genae.training.schedule",
    "SingleResolution": "genae.training.schedule",
    "Trainer": "genae.training.trainer",
    "TrainingDiverged": "genae.training.trainer",
    "TrainingInterrupted": "genae.training.interrupt",
    "TrainResult": "genae.training.trainer",
}

__all__ = sorted(_LAZY)


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'genae.training' has no attribute {name!r}")
