"""A reproducible, resumable, shardable order of training batches.

Epoch ``e`` visits the dataset in the permutation drawn from ``seed + e``; a global batch takes the next
``batch_size`` indices (a remainder too small for the batch is skipped and the next epoch begins), and
rank ``r`` of ``W`` loads every ``W``-th of them starting at ``r``. The whole position is two integers,
so a checkpoint restores the data stream exactly, and ``W`` processes see the same global batches as one.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

import torch
from torch import Tensor

from genae.training.schedule import Schedule


class DataOrder:
    """The position in the seeded sequence of epochs."""

    def __init__(self, num_items: int, seed: int, epoch: int = 0, offset: int = 0) -> None:
        if num_items < 1:
            raise ValueError(f"dataset: expected at least one item, got {num_items}")
        self.num_items = num_items
        self.seed = seed
        self.epoch = epoch
        self.offset = offset
        self._permutation: tuple[int, Tensor] | None = None

    def permutation(self, epoch: int) -> Tensor:
        if self._permutation is None or self._permutation[0] != epoch:
            generator = torch.Generator().manual_seed(self.seed + epoch)
            self._permutation = (epoch, torch.randperm(self.num_items, generator=generator))
        return self._permutation[1]

    def take(self, batch_size: int) -> Tensor:
        """The indices of the next global batch; advances the position."""
        if batch_size > self.num_items:
            raise ValueError(f"batch size {batch_size} is larger than the dataset ({self.num_items} images)")
        if self.offset + batch_size > self.num_items:
            self.epoch, self.offset = self.epoch + 1, 0
        indices = self.permutation(self.epoch)[self.offset : self.offset + batch_size]
        self.offset += batch_size
        return indices

    def copy(self) -> DataOrder:
        return DataOrder(self.num_items, self.seed, self.epoch, self.offset)

    def state_dict(self) -> dict[str, int]:
        return {"num_items": self.num_items, "seed": self.seed, "epoch": self.epoch, "offset": self.offset}

    def load_state_dict(self, state: dict[str, int]) -> None:
        if state["num_items"] != self.num_items or state["seed"] != self.seed:
            raise ValueError(
                f"checkpoint's data order is for {state['num_items']} images with seed {state['seed']}, "
                f"but this run has {self.num_items} images with seed {self.seed}"
            )
        self.epoch, self.offset = int(state["epoch"]), int(state["offset"])


class ShardedBatches:
    """``batch_sampler`` for a DataLoader: this rank's share of each global batch, forever.

    The batch size follows ``schedule`` as images are consumed, so it changes at phase boundaries exactly
    where the trainer expects; the trainer advances its own copy of the same :class:`DataOrder` in step.
    """

    def __init__(self, order: DataOrder, schedule: Schedule, images_seen: int, rank: int, world_size: int) -> None:
        self.order = order.copy()
        self.schedule = schedule
        self.images_seen = images_seen
        self.rank = rank
        self.world_size = world_size

    def __iter__(self) -> Iterator[list[int]]:
        while True:
            batch_size = self.schedule.phase_at(self.images_seen).batch_size
            indices = self.order.take(batch_size)
            self.images_seen += batch_size
            yield indices[self.rank :: self.world_size].tolist()


def collate_images(items: Sequence[Any]) -> Tensor:
    """Stack images; items may be tensors or ``(image, label, ...)`` tuples (labels are dropped)."""
    images = [item[0] if isinstance(item, (tuple, list)) else item for item in items]
    if not all(isinstance(image, Tensor) for image in images):
        kinds = sorted({type(image).__name__ for image in images})
        raise TypeError(f"dataset items: expected image tensors (or tuples starting with one), got {kinds}")
    return torch.stack(images)
