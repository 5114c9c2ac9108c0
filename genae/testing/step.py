"""A :class:`~genae.training.recipe.StepContext` without a Trainer, for calling a recipe's step directly.

Recipe tests (ours and plugins') need the loop's side of one step — optimisers, a seeded generator, the
phase, optionally bf16 autocast — without data loading, checkpoints or logging. This is that, and nothing
more: ``optimize`` zeroes, back-propagates and steps the named optimiser, as the Trainer does on one process.
"""

from __future__ import annotations

import contextlib
from typing import Any

import torch

from genae.training.recipe import Phase, StepContext

__all__ = ["DirectStep"]


class DirectStep(StepContext):
    """One process on the CPU: ``DirectStep(recipe.build_optimizers(), phase, bf16=True)``.

    ``phase`` defaults to a single stable phase at ``resolution`` with ``batch_size`` images; ``bf16`` runs the
    recipe's ``ctx.autocast()`` blocks under CPU bfloat16 autocast (emulated where the CPU has no bf16 units,
    so keep the networks tiny).
    """

    def __init__(self, optimizers: dict[str, torch.optim.Optimizer], phase: Phase | None = None, *,
                 resolution: int = 32, batch_size: int = 8, lr: float = 1e-3, step: int = 0, seed: int = 0,
                 bf16: bool = False) -> None:
        if not isinstance(optimizers, dict) or not all(isinstance(o, torch.optim.Optimizer) for o in optimizers.values()):
            raise TypeError(f"optimizers: expected a dict of torch optimisers, got {type(optimizers).__name__}")
        self.device = torch.device("cpu")
        self.step, self.images_seen, self.seed = step, 0, seed
        self.phase = phase or Phase(index=0, resolution=resolution, alpha=1.0, batch_size=batch_size, lr=lr,
                                    fading=False)
        self.generator = torch.Generator().manual_seed(seed)
        self.world_size, self.rank = 1, 0
        self.optimizers, self.bf16 = optimizers, bf16

    def optimize(self, optimizer: str, loss: torch.Tensor) -> None:
        opt = self.optimizers[optimizer]
        opt.zero_grad()
        loss.backward()
        opt.step()

    def autocast(self) -> contextlib.AbstractContextManager[Any]:
        return torch.autocast("cpu", dtype=torch.bfloat16) if self.bf16 else contextlib.nullcontext()
