"""k-nearest-neighbour manifold metrics: improved precision/recall and density/coverage.

*Improved precision and recall* (Kynkäänniemi et al. 2019, k = 3; NVIDIA's ``pr50k3``): each sample of a set
gets a ball whose radius is the distance to its k-th nearest other sample of the same set. Precision is the
share of generated samples inside at least one real ball, recall the share of real samples inside at least
one generated ball (inside = distance <= radius, as in NVIDIA's code).

*Density and coverage* (Naeem et al. 2020, k = 5), from the real balls only: density is the mean number of
real balls holding a generated sample, divided by k; coverage is the share of real balls holding at least
one generated sample (inside = distance < radius, as in the authors' ``prdc`` package).

Distances are Euclidean, in float64, computed in row blocks of ``block`` samples, so a 50k x 50k distance
matrix never sits in memory at once (each block holds ``block`` x N distances).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import numpy as np
import torch
from torch import Tensor

from genae.metrics.frechet import _check_features

BLOCK = 512
Progress = Callable[[int], None] | None


def _blocks(x: Tensor, block: int) -> Iterator[Tensor]:
    yield from x.split(block)


def _distances(a: Tensor, b: Tensor) -> Tensor:
    """Euclidean distances ``(len(a), len(b))`` in float64 (matrix-product form, clamped at 0 before the root)."""
    squared = (a * a).sum(1, keepdim=True) - 2 * a @ b.T + (b * b).sum(1)
    return squared.clamp(min=0).sqrt()


def knn_radii(x: Tensor, k: int, block: int = BLOCK, progress: Progress = None) -> Tensor:
    """Distance from each row of ``x`` to its k-th nearest *other* row (the row itself, at 0, is skipped)."""
    radii = []
    for rows in _blocks(x, block):
        radii.append(_distances(rows, x).kthvalue(k + 1, dim=1).values)
        if progress is not None:
            progress(len(rows))
    return torch.cat(radii)


def _prepare(real: Tensor | np.ndarray, fake: Tensor | np.ndarray, k: int, block: int) -> tuple[Tensor, Tensor]:
    if isinstance(k, bool) or not isinstance(k, int) or k < 1:
        raise ValueError(f"k: expected a positive int, got {k!r}")
    if isinstance(block, bool) or not isinstance(block, int) or block < 1:
        raise ValueError(f"block: expected a positive int, got {block!r}")
    a = _check_features(real, "real", min_n=k + 1)
    b = _check_features(fake, "fake", min_n=k + 1)
    if a.shape[1] != b.shape[1]:
        raise ValueError(f"feature dimensions differ: real {a.shape[1]} vs fake {b.shape[1]}")
    return a, b


def _share_inside(points: Tensor, centres: Tensor, radii: Tensor, block: int, progress: Progress) -> float:
    """Share of ``points`` within distance <= radius of at least one centre."""
    inside = 0
    for rows in _blocks(points, block):
        inside += int((_distances(rows, centres) <= radii).any(1).sum())
        if progress is not None:
            progress(len(rows))
    return inside / len(points)


def precision_recall(
    real: Tensor | np.ndarray, fake: Tensor | np.ndarray, k: int = 3, block: int = BLOCK, progress: Progress = None,
) -> dict[str, float]:
    """Improved precision and recall of ``fake`` against ``real`` features ``(N, d)``; see the module doc.

    ``progress`` (if given) is called with the number of rows done, 2 * (N_real + N_fake) in all.
    """
    a, b = _prepare(real, fake, k, block)
    real_radii = knn_radii(a, k, block, progress)
    fake_radii = knn_radii(b, k, block, progress)
    return {
        "precision": _share_inside(b, a, real_radii, block, progress),
        "recall": _share_inside(a, b, fake_radii, block, progress),
        "k": k, "n_real": len(a), "n_fake": len(b),
    }


def density_coverage(
    real: Tensor | np.ndarray, fake: Tensor | np.ndarray, k: int = 5, block: int = BLOCK, progress: Progress = None,
) -> dict[str, float]:
    """Density and coverage of ``fake`` against ``real`` features ``(N, d)``; see the module doc.

    ``progress`` (if given) is called with the number of rows done, 2 * N_real in all.
    """
    a, b = _prepare(real, fake, k, block)
    radii = knn_radii(a, k, block, progress)
    hits = torch.zeros(len(b), dtype=torch.float64)
    covered = 0
    for rows, row_radii in zip(_blocks(a, block), radii.split(block)):
        inside = _distances(rows, b) < row_radii[:, None]
        hits += inside.sum(0)
        covered += int(inside.any(1).sum())
        if progress is not None:
            progress(len(rows))
    return {
        "density": float(hits.mean()) / k, "coverage": covered / len(a), "k": k, "n_real": len(a), "n_fake": len(b),
    }
