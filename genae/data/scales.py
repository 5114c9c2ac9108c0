"""Synthetic *scales* images: one object whose coarse and fine factors are known exactly.

Coarse factors set the silhouette: ``shape`` (circle, square, triangle, cross), ``position`` (3 × 3 grid of
centres), ``size`` (3 radii). Fine factors set the surface: ``colour`` (6 hues) and ``texture`` (plain,
stripes, checker, dots with a period of 1/8 of the image: 4 px at 32 px). Every texture has the same mean
brightness as plain, so texture lives only in high frequencies. Shapes share one bounding radius (circle,
square and triangle also share one area), so size is not confounded with shape.

Images are a pure function of the factors, and factors a pure function of ``(seed, split, index)``, so a
metric can re-render any item with one factor changed (:func:`render_scales`) and measure which latent
layers moved which factor.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from genae.data.base import SPLITS, GenaeDataset
from genae.data.errors import DataError
from genae.data.transforms import check_channels, check_resolution, convert_channels

SHAPES = ("circle", "square", "triangle", "cross")
POSITIONS = tuple((x, y) for y in (0.3, 0.5, 0.7) for x in (0.3, 0.5, 0.7))  # centres, row-major, y down
SIZES = (0.12, 0.15, 0.18)  # bounding radius as a fraction of the image side
COLOURS = {
    "red": (1.0, 0.15, 0.15),
    "yellow": (1.0, 0.9, 0.15),
    "green": (0.15, 0.9, 0.2),
    "cyan": (0.15, 0.85, 0.95),
    "blue": (0.25, 0.4, 1.0),
    "magenta": (0.95, 0.2, 0.9),
}
TEXTURES = ("plain", "stripes", "checker", "dots")
FACTOR_VALUES: dict[str, tuple] = {
    "shape": SHAPES,
    "position": POSITIONS,
    "size": SIZES,
    "colour": tuple(COLOURS),
    "texture": TEXTURES,
}
FACTOR_NAMES = tuple(FACTOR_VALUES)
FACTOR_SIZES = {name: len(values) for name, values in FACTOR_VALUES.items()}
COARSE_FACTORS = ("shape", "position", "size")
FINE_FACTORS = ("colour", "texture")
DEFAULT_SIZES = {"train": 20000, "test": 2000}

BACKGROUND = 0.08  # dark grey, in [0, 1]
MEAN_LEVEL, HIGH_LEVEL = 0.7, 1.0  # object brightness: plain everywhere, textures alternate around it
TEXTURE_PERIOD = 1 / 8
SUPERSAMPLE = 4  # edges are anti-aliased by rendering 4× larger and averaging
RENDER_VERSION = "scales-1"  # bump when a rendered pixel changes: it keys cached statistics
_SPLIT_CODES = {"train": 0, "test": 1}


def _shape_mask(shape: int, dx: Tensor, dy: Tensor) -> Tensor:
    """Inside-mask of one shape, in units of the bounding radius (dx, dy relative to the centre)."""
    name = SHAPES[shape]
    if name == "circle":
        return dx.square() + dy.square() <= 1.0
    if name == "square":  # same area as the unit circle
        return torch.maximum(dx.abs(), dy.abs()) <= math.sqrt(math.pi) / 2
    if name == "triangle":  # equilateral, same area as the unit circle, centroid at the centre
        height = math.sqrt(4 * math.pi / math.sqrt(3)) * math.sqrt(3) / 2
        return (dy <= height / 3) & (dx.abs() <= (dy + 2 * height / 3) / math.sqrt(3))
    arm = 0.4  # cross: two bars of half-width 0.4 reaching the bounding radius
    return ((dx.abs() <= 1.0) & (dy.abs() <= arm)) | ((dy.abs() <= 1.0) & (dx.abs() <= arm))


@functools.lru_cache(maxsize=8)
def _texture_levels(n: int, device: torch.device) -> Tensor:
    """``(4, n, n)`` brightness per texture; each pattern's mean over the image equals ``MEAN_LEVEL``."""
    coords = _pixel_centres(n, device)
    u, v = coords.view(1, -1), coords.view(-1, 1)
    cells_u, cells_v = u / TEXTURE_PERIOD, v / TEXTURE_PERIOD
    stripes = (cells_u % 1.0 < 0.5).expand(len(coords), -1)
    checker = (torch.floor(2 * cells_u) + torch.floor(2 * cells_v)) % 2 == 0
    dots = (cells_u % 1.0 - 0.5).square() + (cells_v % 1.0 - 0.5).square() <= 0.3**2
    levels = [torch.full_like(checker, MEAN_LEVEL, dtype=coords.dtype)]
    for bright in (stripes, checker, dots):
        cover = bright.to(coords.dtype).mean()
        low = (MEAN_LEVEL - cover * HIGH_LEVEL) / (1 - cover)
        levels.append(torch.where(bright, torch.full_like(low, HIGH_LEVEL), low))
    return torch.stack(levels)


def _pixel_centres(n: int, device: torch.device) -> Tensor:
    return (torch.arange(n, device=device, dtype=torch.float32) + 0.5) / n


def check_factors(factors: Mapping[str, Tensor]) -> dict[str, Tensor]:
    """Every factor present, as equal-length 1-D integer tensors within range."""
    if not isinstance(factors, Mapping) or set(factors) != set(FACTOR_NAMES):
        given = sorted(factors) if isinstance(factors, Mapping) else type(factors).__name__
        raise DataError(f"factors: expected a dict with keys {list(FACTOR_NAMES)}, got {given}")
    checked = {name: torch.as_tensor(factors[name]) for name in FACTOR_NAMES}
    lengths = {t.shape for t in checked.values()}
    if len(lengths) != 1 or len(next(iter(lengths))) != 1:
        raise DataError(f"factors: expected 1-D tensors of one length, got shapes {sorted(lengths)}")
    for name, values in checked.items():
        if values.dtype.is_floating_point or values.dtype == torch.bool:
            raise DataError(f"factors[{name!r}]: expected integers, got {values.dtype}")
        if values.numel() and (values.min() < 0 or values.max() >= FACTOR_SIZES[name]):
            raise DataError(f"factors[{name!r}]: values must lie in [0, {FACTOR_SIZES[name] - 1}]")
        checked[name] = values.long()
    return checked


def render_scales(factors: Mapping[str, Tensor], resolution: int = 32, chunk: int = 256) -> Tensor:
    """Draw ``(B, 3, resolution, resolution)`` images in ``[-1, 1]`` from factor index tensors of length B."""
    checked, resolution = check_factors(factors), check_resolution(resolution)
    if isinstance(chunk, bool) or not isinstance(chunk, int) or chunk < 1:
        raise DataError(f"chunk: expected a positive int, got {chunk!r}")
    device = checked["shape"].device
    n = resolution * SUPERSAMPLE
    coords, textures = _pixel_centres(n, device), _texture_levels(n, device)
    positions = torch.tensor(POSITIONS, device=device)
    sizes = torch.tensor(SIZES, device=device)
    colours = torch.tensor(tuple(COLOURS.values()), device=device)
    out = []
    for start in range(0, len(checked["shape"]), chunk):
        f = {name: values[start : start + chunk] for name, values in checked.items()}
        centre, radius = positions[f["position"]], sizes[f["size"]].view(-1, 1, 1)
        dx = (coords.view(1, 1, n) - centre[:, 0].view(-1, 1, 1)) / radius
        dy = (coords.view(1, n, 1) - centre[:, 1].view(-1, 1, 1)) / radius
        inside = torch.zeros(len(dx), n, n, device=device)
        for shape in f["shape"].unique().tolist():
            rows = f["shape"] == shape
            inside[rows] = _shape_mask(shape, dx[rows], dy[rows]).float()
        # Colour is constant per image, so pool the two one-channel maps, not the RGB image.
        coverage = F.avg_pool2d(inside[:, None], SUPERSAMPLE)
        lit = F.avg_pool2d((inside * textures[f["texture"]])[:, None], SUPERSAMPLE)
        image = BACKGROUND * (1 - coverage) + colours[f["colour"]].view(-1, 3, 1, 1) * lit
        out.append(image * 2.0 - 1.0)
    if not out:
        return torch.zeros(0, 3, resolution, resolution, device=device)
    return torch.cat(out)


def _splitmix(x: np.ndarray) -> np.ndarray:
    """SplitMix64 finaliser: a counter-based hash, so item i's factors never depend on the split's size."""
    with np.errstate(over="ignore"):
        x = x + np.uint64(0x9E3779B97F4A7C15)
        x = (x ^ (x >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        x = (x ^ (x >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        return x ^ (x >> np.uint64(31))


def sample_factors(seed: int, split: str, indices: np.ndarray) -> dict[str, Tensor]:
    """The factors of items ``indices`` of ``split``, a pure function of ``(seed, split, index)``."""
    stream = _splitmix(np.array([seed * 2 + _SPLIT_CODES[split]], dtype=np.uint64))
    keys = _splitmix(stream ^ indices.astype(np.uint64))
    return {
        name: torch.from_numpy((_splitmix(keys + np.uint64(k)) % np.uint64(size)).astype(np.int64))
        for k, (name, size) in enumerate(FACTOR_SIZES.items())
    }


class ScalesDataset(GenaeDataset):
    """Items of the synthetic scales set; the label is the shape id, the full factors via :meth:`factors`."""

    factor_names = FACTOR_NAMES
    factor_sizes = FACTOR_SIZES
    coarse_factors = COARSE_FACTORS
    fine_factors = FINE_FACTORS
    classes = SHAPES

    def __init__(
        self,
        split: str = "train",
        size: int | None = None,
        resolution: int = 32,
        channels: int = 3,
        seed: int = 0,
        flip_pairs: bool = False,
        limit: int | None = None,
    ) -> None:
        super().__init__()
        if split not in SPLITS:
            raise DataError(f"split: expected one of {', '.join(SPLITS)}, got {split!r}")
        if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
            raise DataError(f"seed: expected a non-negative int, got {seed!r}")
        parts = ("train", "test") if split == "all" else (split,)
        if size is not None and (isinstance(size, bool) or not isinstance(size, int) or size < 1):
            raise DataError(f"size: expected a positive int, got {size!r}")
        counts = {part: size or DEFAULT_SIZES[part] for part in parts}
        tables = [sample_factors(seed, part, np.arange(count)) for part, count in counts.items()]
        self._factors = {name: torch.cat([t[name] for t in tables])[:limit] for name in FACTOR_NAMES}
        self.resolution, self.channels = check_resolution(resolution), check_channels(channels)
        self.split, self.seed, self.flip_pairs = split, seed, flip_pairs
        factors = ", ".join(f"{name} ({FACTOR_SIZES[name]})" for name in FACTOR_NAMES)
        grey = ", converted to grey by BT.601 luminance" if channels == 1 else ""
        self.description = (
            f"synthetic scales {split} split: {len(self)} images (seed {seed}), rendered directly at "
            f"{resolution}x{resolution}{grey}; factors {factors}; coarse = shape, position, size; "
            "fine = colour, texture; label = shape"
        )

    def __len__(self) -> int:
        return len(self._factors["shape"])

    @property
    def labels(self) -> np.ndarray:
        return self._factors["shape"].numpy()

    def factors(self, index: int) -> dict[str, int]:
        return {name: int(values[index]) for name, values in self._factors.items()}

    def all_factors(self) -> dict[str, Tensor]:
        """Every item's factors as int64 tensors of length ``len(self)``."""
        return {name: values.clone() for name, values in self._factors.items()}

    def render(self, indices: Sequence[int] | Tensor) -> Tensor:
        """A batch of items at once (much faster than indexing one by one)."""
        index = torch.as_tensor(indices, dtype=torch.long)
        images = render_scales({name: v[index] for name, v in self._factors.items()}, self.resolution)
        return convert_channels(images, self.channels)[0]

    def load(self, index: int) -> tuple[Tensor, int]:
        return self.render([index])[0], int(self._factors["shape"][index])

    def __getitems__(self, indices: Sequence[int]) -> list[tuple[Any, int]]:
        """Batched fetching: a DataLoader calls this with a whole batch, which renders in one pass."""
        for index in indices:
            if not -len(self) <= index < len(self):
                raise IndexError(f"dataset index {index} out of range for {len(self)} items")
        images = self.render([int(i) % len(self) for i in indices])
        labels = [int(self._factors["shape"][i]) for i in indices]
        if self.flip_pairs:
            return [((image, image.flip(-1)), label) for image, label in zip(images, labels)]
        return list(zip(images, labels))

    def hash_parts(self) -> Sequence[bytes | str]:
        return [RENDER_VERSION, *(self._factors[name].numpy().tobytes() for name in FACTOR_NAMES)]
