"""The Recipe protocol: a model family's training algorithm, separated from the generic loop.

The :class:`~genae.training.trainer.Trainer` owns devices, data, EMA, AMP, DDP, checkpoints and logging.
A recipe owns only what is specific to its family: its optimisers, its losses, and the order in which
nets step. Everything a recipe needs from the loop arrives through the :class:`StepContext`.
"""

from __future__ import annotations

import abc
import contextlib
import hashlib
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import torch
from torch import Tensor

if TYPE_CHECKING:
    from genae.interfaces import GenerativeAutoencoder
    from genae.training.schedule import Schedule


@dataclass(frozen=True)
class Phase:
    """Where progressive growing stands at one step (a single phase when not growing)."""

    index: int  # 0 for the first (lowest-resolution) phase
    resolution: int  # images handed to train_step have this size
    alpha: float  # fade-in of the newest block, in [0, 1]; 1.0 when stable / not growing
    batch_size: int
    lr: float
    fading: bool  # True while alpha < 1 in this phase


class StepContext(abc.ABC):
    """What the loop offers a recipe during one step. Implemented by the Trainer."""

    device: torch.device
    step: int  # optimisation steps completed before this one
    images_seen: int  # real images consumed before this step (all ranks)
    phase: Phase
    generator: torch.Generator  # the recipe's own seeded randomness (saved in checkpoints)
    world_size: int
    rank: int
    seed: int = 0  # the run's seed; keys the per-sample draws below

    def randn_per_sample(self, like: Tensor) -> Tensor:
        """Standard-normal draws shaped like ``like``, whose first dimension is this rank's share of the batch.

        Row ``j`` is global batch position ``rank + j * world_size`` (the trainer's sharding), and its numbers
        depend only on (seed, step, this call's index within the step, that position): the same global batch
        gets the same numbers with any number of processes, so DDP training equals one process. Drawn on the
        CPU, then moved to ``like``'s device and dtype, so runs also repeat across devices.
        """
        step, calls = getattr(self, "_draws", (None, 0))
        call = calls if step == self.step else 0
        self._draws = (self.step, call + 1)
        generator = torch.Generator()  # one, re-seeded per row: the same numbers as a fresh one, for less time
        rows = [
            torch.randn(tuple(like.shape[1:]), generator=generator.manual_seed(
                sample_key(self.seed, self.step, call, self.rank + j * self.world_size)))
            for j in range(like.shape[0])
        ]
        return torch.stack(rows).to(device=like.device, dtype=like.dtype)

    @abc.abstractmethod
    def optimize(self, optimizer: str, loss: Tensor) -> None:
        """Zero grads, backward ``loss`` (AMP-scaled), all-reduce grads across ranks, clip, step."""

    def autocast(self) -> contextlib.AbstractContextManager[Any]:
        """Mixed precision region (a no-op unless AMP is enabled on CUDA)."""
        return contextlib.nullcontext()


def sample_key(*parts: int) -> int:
    """A 63-bit generator seed from integers; nearby inputs give unrelated seeds (unlike ``seed + i``)."""
    digest = hashlib.blake2b(":".join(map(str, parts)).encode(), digest_size=8).digest()
    return int.from_bytes(digest, "little") >> 1


class Recipe(abc.ABC):
    """Subclass per model family. Construct with the model and keyword options (all JSON-able)."""

    def __init__(self, model: GenerativeAutoencoder, **options: Any) -> None:
        self.model = model
        self.options = options

    @abc.abstractmethod
    def build_optimizers(self) -> dict[str, torch.optim.Optimizer]:
        """Called once; the trainer saves/restores their state and sets ``lr`` from the phase."""

    @abc.abstractmethod
    def train_step(self, images: Tensor, ctx: StepContext) -> dict[str, float]:
        """One iteration on a batch at ``ctx.phase.resolution``; returns every loss term to log."""

    def ema_modules(self) -> dict[str, float]:
        """Names of ``model`` submodules to keep an EMA of, with their decay (e.g. ``{"decoder": 0.999}``)."""
        return {}

    def schedule(self) -> Schedule | None:
        """The progressive-growing schedule, or None to train at the model's full resolution."""
        return None

    def lr_multipliers(self) -> dict[str, float]:
        """Per-optimiser factors on ``phase.lr`` (e.g. ``{"mapping": 0.01}``); unnamed ones get 1.0.

        The trainer sets every param group's ``lr`` to ``phase.lr * multiplier * group.get("lr_scale", 1.0)``,
        so a recipe that needs per-group rates puts an ``lr_scale`` key in its param groups.
        """
        return {}

    def owned_modules(self) -> dict[str, torch.nn.Module]:
        """Modules the recipe owns outside ``model`` (e.g. a loss with learned parameters).

        The trainer moves them to the device, keeps them identical across DDP ranks and checkpoints them.
        """
        return {}

    def preview(self, images: Tensor, latents: Tensor, phase: Phase) -> list[Tensor]:
        """Rows of the periodic image grid: ``images`` (fixed real batch at ``phase.resolution``), their
        reconstructions, and decodings of the fixed prior draws ``latents``. Runs under ``no_grad`` in eval
        mode with EMA weights. Growing families override this to decode at ``phase.resolution``; the default
        upsamples the inputs to the model's resolution.
        """
        full = self.model.resolution
        if images.shape[-1] != full:
            images = torch.nn.functional.interpolate(images, size=(full, full), mode="nearest")
        return [images, self.model.reconstruct(images), self.model.decode(latents)]

    def on_phase_start(self, phase: Phase, ctx: StepContext) -> None:
        """Hook when a new phase begins (e.g. grow per-pixel loss parameters). Also called on resume."""

    def state_dict(self) -> dict[str, Any]:
        """Recipe state beyond the model and optimisers (e.g. a history pool); tensors allowed."""
        return {}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore what ``state_dict`` returned."""
