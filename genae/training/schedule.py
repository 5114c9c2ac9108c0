"""Training schedules: which resolution, fade-in alpha, batch size and learning rate apply at each moment.

A schedule is a pure function of ``images_seen`` (real images consumed so far, summed over all ranks), so
a resumed run lands in exactly the phase the uninterrupted run was in.

Progressive growing (:class:`ProgressiveSchedule`) trains at ``start_resolution``, then doubles the
resolution every ``images_per_phase`` images until ``final_resolution``:

- phase ``p`` (resolution ``start_resolution * 2**p``) begins at ``p * images_per_phase`` images;
- during the first ``fade_images`` images of every phase but the first, ``alpha`` rises linearly from 0
  to 1 (the newest block fades in) and ``fading`` is True; afterwards ``alpha`` is 1.0;
- phase 0 has nothing to fade in: its ``alpha`` is always 1.0;
- the last phase continues indefinitely; :attr:`ProgressiveSchedule.total_images` is where it has had
  ``images_per_phase`` images too (``num_phases * images_per_phase``), the default length of a run.
"""

from __future__ import annotations

import abc
import math
from collections.abc import Mapping

from genae.training.recipe import Phase


def _check_resolution(name: str, value: object) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value < 4 or value & (value - 1):
        raise ValueError(f"{name}: expected a power of two >= 4, got {value!r}")
    return value


def _per_resolution(
    name: str, value: object, resolutions: list[int], kind: type, positive: bool = True
) -> dict[int, float]:
    """Expand a scalar or validate a ``{resolution: value}`` mapping that covers exactly ``resolutions``."""
    if isinstance(value, Mapping):
        # JSON (a config file, ``--option``) can only spell the resolutions as strings.
        table = {int(k) if isinstance(k, str) and k.isdigit() else k: v for k, v in value.items()}
        if set(table) != set(resolutions) or len(table) != len(value):
            raise ValueError(
                f"{name}: expected one entry per resolution {resolutions}, got keys {sorted(value, key=str)}"
            )
    else:
        table = dict.fromkeys(resolutions, value)
    for resolution, entry in table.items():
        ok_type = isinstance(entry, (int, float)) if kind is float else isinstance(entry, int)
        if isinstance(entry, bool) or not ok_type or (positive and not entry > 0) or not math.isfinite(entry):
            raise ValueError(
                f"{name}[{resolution}]: expected a positive {kind.__name__}, got {entry!r}"
            )
    return {r: kind(v) for r, v in table.items()}


class Schedule(abc.ABC):
    """What the trainer asks of any schedule."""

    @abc.abstractmethod
    def phase_at(self, images_seen: int) -> Phase:
        """The phase in force once ``images_seen`` images have been consumed."""

    @property
    @abc.abstractmethod
    def resolutions(self) -> list[int]:
        """Every resolution the schedule visits, increasing."""

    @property
    def final_resolution(self) -> int:
        return self.resolutions[-1]

    @property
    @abc.abstractmethod
    def batch_sizes(self) -> dict[int, int]:
        """Batch size per resolution (global: summed over all ranks)."""

    @property
    def total_images(self) -> int | None:
        """The natural length of a run, or None when the schedule has none."""
        return None

    @abc.abstractmethod
    def overridden(self, batch_size: int | None = None, lr: float | None = None) -> Schedule:
        """The same schedule with one batch size and/or learning rate for every phase."""

    @staticmethod
    def _check_images_seen(images_seen: int) -> None:
        if not isinstance(images_seen, int) or isinstance(images_seen, bool) or images_seen < 0:
            raise ValueError(f"images_seen: expected a non-negative int, got {images_seen!r}")


class SingleResolution(Schedule):
    """One phase forever: the schedule of families that do not grow."""

    def __init__(self, resolution: int, batch_size: int, lr: float) -> None:
        self.resolution = _check_resolution("resolution", resolution)
        self.batch_size = int(_per_resolution("batch_size", batch_size, [resolution], int)[resolution])
        self.lr = _per_resolution("lr", lr, [resolution], float)[resolution]

    def phase_at(self, images_seen: int) -> Phase:
        self._check_images_seen(images_seen)
        return Phase(0, self.resolution, 1.0, self.batch_size, self.lr, False)

    @property
    def resolutions(self) -> list[int]:
        return [self.resolution]

    @property
    def batch_sizes(self) -> dict[int, int]:
        return {self.resolution: self.batch_size}

    def overridden(self, batch_size: int | None = None, lr: float | None = None) -> SingleResolution:
        return SingleResolution(
            self.resolution, self.batch_size if batch_size is None else batch_size, self.lr if lr is None else lr
        )

    def __repr__(self) -> str:
        return f"SingleResolution(resolution={self.resolution}, batch_size={self.batch_size}, lr={self.lr})"


class ProgressiveSchedule(Schedule):
    """Resolution doubling with fade-in; see the module docstring for the exact semantics."""

    def __init__(
        self,
        start_resolution: int = 4,
        final_resolution: int = 32,
        *,
        images_per_phase: int,
        fade_images: int,
        batch_sizes: Mapping[int, int] | int,
        lrs: Mapping[int, float] | float,
    ) -> None:
        self.start_resolution = _check_resolution("start_resolution", start_resolution)
        _check_resolution("final_resolution", final_resolution)
        if final_resolution < start_resolution:
            raise ValueError(
                f"final_resolution ({final_resolution}) must be >= start_resolution ({start_resolution})"
            )
        if not isinstance(images_per_phase, int) or isinstance(images_per_phase, bool) or images_per_phase < 1:
            raise ValueError(f"images_per_phase: expected a positive int, got {images_per_phase!r}")
        if (
            not isinstance(fade_images, int)
            or isinstance(fade_images, bool)
            or not 0 <= fade_images <= images_per_phase
        ):
            raise ValueError(
                f"fade_images: expected an int in [0, images_per_phase={images_per_phase}], got {fade_images!r}"
            )
        self._resolutions = [
            start_resolution * 2**p for p in range(int(math.log2(final_resolution // start_resolution)) + 1)
        ]
        self.images_per_phase = images_per_phase
        self.fade_images = fade_images
        self._batch_sizes = {r: int(v) for r, v in _per_resolution("batch_sizes", batch_sizes, self._resolutions, int).items()}
        self.lrs = _per_resolution("lrs", lrs, self._resolutions, float)

    @property
    def resolutions(self) -> list[int]:
        return list(self._resolutions)

    @property
    def batch_sizes(self) -> dict[int, int]:
        return dict(self._batch_sizes)

    @property
    def num_phases(self) -> int:
        return len(self._resolutions)

    @property
    def total_images(self) -> int:
        return self.num_phases * self.images_per_phase

    def phase_at(self, images_seen: int) -> Phase:
        self._check_images_seen(images_seen)
        index = min(images_seen // self.images_per_phase, self.num_phases - 1)
        into_phase = images_seen - index * self.images_per_phase
        fading = index > 0 and into_phase < self.fade_images
        alpha = into_phase / self.fade_images if fading else 1.0
        resolution = self._resolutions[index]
        return Phase(index, resolution, alpha, self._batch_sizes[resolution], self.lrs[resolution], fading)

    def overridden(self, batch_size: int | None = None, lr: float | None = None) -> ProgressiveSchedule:
        return ProgressiveSchedule(
            self.start_resolution,
            self.final_resolution,
            images_per_phase=self.images_per_phase,
            fade_images=self.fade_images,
            batch_sizes=self._batch_sizes if batch_size is None else batch_size,
            lrs=self.lrs if lr is None else lr,
        )

    def __repr__(self) -> str:
        return (
            f"ProgressiveSchedule({self.start_resolution}, {self.final_resolution}, "
            f"images_per_phase={self.images_per_phase}, fade_images={self.fade_images}, "
            f"batch_sizes={self._batch_sizes}, lrs={self.lrs})"
        )
