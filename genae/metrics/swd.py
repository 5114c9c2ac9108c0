"""Sliced Wasserstein distance exactly as in Progressive GAN (Karras et al. 2018, appendix D).

Each image set becomes a Laplacian pyramid ([1,4,6,4,1]^2/256 kernel, mirror padding) from full
resolution down to 16 px; every level yields 128 random 7x7 neighbourhoods per image; descriptors are
normalised per channel within each set; the distance per level is the mean |sorted projection gap| over
4 x 128 random unit directions, times 1e3. The score is the mean over levels.

Differences from the original, all documented: pixel values are the uint8-equivalent ``(x+1)*127.5``
(the original fed uint8 images); grey images give 1x7x7 descriptors (the original assumed RGB); images
smaller than 16 px (where the original has no level) are scored on one level at full resolution, and
images under 7 px are refused. Random draws come from a seeded generator, so the score is reproducible.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import torch
from torch import Tensor
from torch.nn import functional as F

NEIGHBOURHOOD = 7
PER_IMAGE = 128
DIRECTION_REPEATS = 4
DIRECTIONS_PER_REPEAT = 128
MIN_LEVEL_RESOLUTION = 16
_KERNEL_1D = torch.tensor([1.0, 4.0, 6.0, 4.0, 1.0])


def level_resolutions(resolution: int) -> list[int]:
    """Pyramid levels used for images of this size: halving while >= 16, or the image itself if smaller."""
    if resolution < NEIGHBOURHOOD:
        raise ValueError(f"SWD: images of {resolution} px are smaller than the {NEIGHBOURHOOD}x{NEIGHBOURHOOD} descriptor")
    levels = []
    while resolution >= MIN_LEVEL_RESOLUTION:
        levels.append(resolution)
        resolution //= 2
    return levels or [resolution]


def _blur(x: Tensor, gain: float = 1.0) -> Tensor:
    kernel = (_KERNEL_1D[:, None] * _KERNEL_1D[None, :] / 256.0 * gain).to(x)
    channels = x.shape[1]
    padded = F.pad(x, (2, 2, 2, 2), mode="reflect")  # torch "reflect" is scipy "mirror": d c b | a b c d
    return F.conv2d(padded, kernel.expand(channels, 1, 5, 5), groups=channels)


def _pyramid_down(x: Tensor) -> Tensor:
    return _blur(x)[:, :, ::2, ::2]


def _pyramid_up(x: Tensor, size: tuple[int, int]) -> Tensor:
    up = torch.zeros(x.shape[0], x.shape[1], size[0], size[1], dtype=x.dtype, device=x.device)
    up[:, :, ::2, ::2] = x
    return _blur(up, gain=4.0)


def laplacian_pyramid(images: Tensor, levels: int) -> list[Tensor]:
    """Band-pass levels, finest first; the last level is the low-pass residual."""
    pyramid = [images]
    for _ in range(1, levels):
        pyramid.append(_pyramid_down(pyramid[-1]))
        pyramid[-2] = pyramid[-2] - _pyramid_up(pyramid[-1], pyramid[-2].shape[-2:])
    return pyramid


def _neighbourhoods(level: Tensor, generator: torch.Generator) -> Tensor:
    """``PER_IMAGE`` random 7x7 patches per image, ``(B * PER_IMAGE, C, 7, 7)``."""
    n, _, height, width = level.shape
    half = NEIGHBOURHOOD // 2
    ys = torch.randint(half, height - half, (n * PER_IMAGE,), generator=generator)
    xs = torch.randint(half, width - half, (n * PER_IMAGE,), generator=generator)
    patches = level.unfold(2, NEIGHBOURHOOD, 1).unfold(3, NEIGHBOURHOOD, 1)  # (B, C, H-6, W-6, 7, 7)
    images = torch.arange(n).repeat_interleave(PER_IMAGE)
    return patches[images, :, ys - half, xs - half]


def descriptors(batches: Iterable[Tensor], resolution: int, generator: torch.Generator) -> list[Tensor]:
    """Per pyramid level, the normalised ``(N * 128, C * 49)`` descriptor matrix of an image set."""
    levels = level_resolutions(resolution)
    per_level: list[list[Tensor]] = [[] for _ in levels]
    for batch in batches:
        if batch.dim() != 4 or batch.shape[-1] != resolution or batch.shape[-2] != resolution:
            raise ValueError(f"SWD: expected (B, C, {resolution}, {resolution}) batches, got {tuple(batch.shape)}")
        pixels = (batch.detach().to("cpu", torch.float32).clamp(-1, 1) + 1) * 127.5
        for index, level in enumerate(laplacian_pyramid(pixels, len(levels))):
            per_level[index].append(_neighbourhoods(level, generator))
    result = []
    for chunks in per_level:
        desc = torch.cat(chunks)
        mean = desc.mean(dim=(0, 2, 3), keepdim=True)
        std = desc.std(dim=(0, 2, 3), keepdim=True, unbiased=False).clamp(min=1e-8)
        result.append(((desc - mean) / std).flatten(1))
    return result


def sliced_wasserstein(a: Tensor, b: Tensor, generator: torch.Generator, chunk: int = 32) -> float:
    """Mean over random unit directions of the mean absolute gap between sorted projections."""
    if a.shape != b.shape:
        raise ValueError(f"SWD: descriptor sets must match in shape, got {tuple(a.shape)} and {tuple(b.shape)}")
    total = 0.0
    for _ in range(DIRECTION_REPEATS):
        directions = torch.randn(a.shape[1], DIRECTIONS_PER_REPEAT, generator=generator)
        directions = directions / directions.norm(dim=0, keepdim=True)
        for start in range(0, DIRECTIONS_PER_REPEAT, chunk):
            d = directions[:, start : start + chunk].T.contiguous()  # (chunk, dim): sort along rows
            # numpy's vectorised float sort is an order of magnitude faster than torch.sort on CPU here.
            gap = np.sort((d @ a.T).numpy(), axis=1) - np.sort((d @ b.T).numpy(), axis=1)
            total += float(np.abs(gap).sum(dtype=np.float64))
    return total / (DIRECTION_REPEATS * DIRECTIONS_PER_REPEAT * a.shape[0])


def swd(images_a: Iterable[Tensor], images_b: Iterable[Tensor], resolution: int, seed: int = 0) -> dict[str, float]:
    """SWD x 1e3 per level (keys ``"swd_<res>"``, finest first) and their mean (``"swd"``).

    Both sets must hold the same number of images. Each ``images_*`` is an iterable of ``[-1, 1]`` batches.
    """
    generator = torch.Generator().manual_seed(seed)
    desc_a = descriptors(images_a, resolution, generator)
    desc_b = descriptors(images_b, resolution, generator)
    if desc_a[0].shape[0] != desc_b[0].shape[0]:
        raise ValueError(
            f"SWD: both sets need the same number of images, got {desc_a[0].shape[0] // PER_IMAGE} "
            f"and {desc_b[0].shape[0] // PER_IMAGE}"
        )
    scores = {
        f"swd_{res}": 1e3 * sliced_wasserstein(a, b, generator)
        for res, a, b in zip(level_resolutions(resolution), desc_a, desc_b)
    }
    scores["swd"] = sum(scores.values()) / len(scores)
    return scores
