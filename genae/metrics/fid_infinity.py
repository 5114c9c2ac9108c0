"""FID∞ (Chong & Forsyth 2020, "Effectively Unbiased FID and Inception Score and where to find them").

FID_N is biased upwards by roughly a term proportional to 1/N, so figures at different N are not
comparable. FID∞ evaluates FID_N on ``points`` random subsets of the generated features with N evenly
spaced from ``min_fraction`` * N_total to N_total (the real statistics stay fixed), fits FID_N = a + b / N by
least squares and reports the intercept a: the extrapolation to infinitely many samples. The authors use
15 points from 5,000 to 50,000 (a tenth of the total up to the total), which are the defaults here.
"""

from __future__ import annotations

import warnings

import numpy as np
import torch
from torch import Tensor

from genae.metrics.frechet import FeatureStats, _check_features, frechet_distance_from_stats

POINTS = 15
MIN_FRACTION = 0.1


def fid_infinity(
    real: Tensor | np.ndarray | FeatureStats,
    fake: Tensor | np.ndarray,
    points: int = POINTS,
    min_fraction: float = MIN_FRACTION,
    seed: int = 0,
) -> dict[str, float | list]:
    """FID∞ of ``fake`` features against ``real`` features (or their stats), with the fitted points."""
    if isinstance(points, bool) or not isinstance(points, int) or points < 2:
        raise ValueError(f"points: expected an int >= 2, got {points!r}")
    if not 0 < min_fraction < 1:
        raise ValueError(f"min_fraction: expected a number in (0, 1), got {min_fraction!r}")
    reference = real if isinstance(real, FeatureStats) else FeatureStats.from_features(real, "real")
    x = _check_features(fake, "fake", min_n=2)
    sizes = np.unique(np.linspace(max(2, int(min_fraction * len(x))), len(x), points).astype(int))
    if len(sizes) < 2:
        raise ValueError(f"FID∞ needs at least 2 distinct subset sizes; {len(x)} generated samples give {len(sizes)}")
    generator = torch.Generator().manual_seed(seed)
    values = []
    with warnings.catch_warnings():  # every small-N FID would warn; the extrapolation is the point
        warnings.simplefilter("ignore", UserWarning)
        for size in sizes:
            subset = x[torch.randperm(len(x), generator=generator)[: int(size)]]
            values.append(frechet_distance_from_stats(reference, FeatureStats.from_features(subset)).value)
    slope, intercept = np.polyfit(1.0 / sizes, np.array(values), 1)
    return {"fid_inf": float(intercept), "slope": float(slope), "sizes": sizes.tolist(), "fids": values,
            "n": len(x), "n_real": reference.n}
