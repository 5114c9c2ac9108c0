"""Barron's general and adaptive robust loss (Barron, CVPR 2019), for images.

The general loss ``rho(x, alpha, c) = |alpha-2|/alpha * (((x/c)^2/|alpha-2| + 1)^(alpha/2) - 1)`` spans L2
(alpha=2), pseudo-Huber (alpha=1) and Cauchy (alpha->0). Its *adaptive* form treats ``exp(-rho)`` as a
density and minimises the negative log-likelihood ``rho(x, alpha, c) + log c + log Z(alpha)``, so that
shape ``alpha`` and scale ``c`` can be learned: the partition term stops the optimiser from simply making
every residual "cheap". ``Z(alpha)`` has no closed form; we integrate it numerically on a grid once per
process and interpolate with a cubic Hermite spline, which keeps the loss differentiable in ``alpha``.
"""

from __future__ import annotations

import functools
import math

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from genae.precision import full_precision

ALPHA_GRID_POINTS = 513  # knots on [0, 2]; interpolation error of log Z is below 1e-5 there


def robust_rho(x: Tensor, alpha: Tensor | float, scale: Tensor | float) -> Tensor:
    """Barron's general loss, elementwise, for ``0 < alpha < 2`` (broadcasting ``alpha``/``scale`` over ``x``).

    Written with ``expm1``/``log1p`` so that alpha near 0 does not lose all precision to cancellation.
    """
    alpha = torch.as_tensor(alpha, dtype=x.dtype, device=x.device)
    scale = torch.as_tensor(scale, dtype=x.dtype, device=x.device)
    if torch.any(alpha <= 0) or torch.any(alpha >= 2):
        raise ValueError("alpha: expected values strictly between 0 and 2 (use L2 for 2, Cauchy for 0)")
    if torch.any(scale <= 0):
        raise ValueError("scale: expected positive values")
    return _rho(x, alpha, scale)


def _rho(x: Tensor, alpha: Tensor, scale: Tensor) -> Tensor:
    b = (alpha - 2).abs()
    return b / alpha * torch.expm1(0.5 * alpha * torch.log1p((x / scale) ** 2 / b))


def _rho_numpy(x: np.ndarray, alpha: float) -> np.ndarray:
    if alpha == 0.0:
        return np.log1p(0.5 * x * x)
    if alpha == 2.0:
        return 0.5 * x * x
    b = abs(alpha - 2)
    return b / alpha * np.expm1(0.5 * alpha * np.log1p(x * x / b))


#: Trapezoid rule in u = log x over [-U, U] with step H: the integrand exp(u - rho(e^u)) is smooth and decays
#: at least like e^-|u| at both ends for every alpha in [0, 2], so the rule converges geometrically; the tails
#: beyond U = 40 hold less than 1e-17. Agrees with scipy's adaptive quadrature at tight tolerance to 1e-13
#: (tests/test_losses.py).
LOG_GRID_HALF_WIDTH, LOG_GRID_STEP = 40.0, 0.02


@functools.lru_cache(maxsize=1)
def _log_partition_table() -> tuple[np.ndarray, np.ndarray]:
    """log Z(alpha) and d log Z / d alpha on a uniform grid over [0, 2], Z = 2 * integral_0^inf exp(-rho)."""
    alphas = np.linspace(0.0, 2.0, ALPHA_GRID_POINTS)
    u = np.arange(-LOG_GRID_HALF_WIDTH, LOG_GRID_HALF_WIDTH + LOG_GRID_STEP / 2, LOG_GRID_STEP)
    x = np.exp(u)
    values = np.empty_like(alphas)
    for i, a in enumerate(alphas):
        integrand = np.exp(u - _rho_numpy(x, float(a)))
        half = LOG_GRID_STEP * (integrand.sum() - 0.5 * (integrand[0] + integrand[-1]))
        values[i] = math.log(2.0 * half)
    slopes = np.gradient(values, alphas, edge_order=2)
    return values, slopes


def log_partition(alpha: Tensor) -> Tensor:
    """``log Z(alpha)`` for alpha in [0, 2], differentiable (cubic Hermite interpolation of a quadrature table)."""
    if not isinstance(alpha, Tensor):
        raise TypeError(f"alpha: expected a Tensor, got {type(alpha).__name__}")
    if torch.any(alpha < 0) or torch.any(alpha > 2):
        raise ValueError("alpha: log Z is tabulated for 0 <= alpha <= 2")
    return _log_partition(alpha)


def _log_partition(alpha: Tensor) -> Tensor:
    values, slopes = _log_partition_table()
    table = torch.as_tensor(values, dtype=alpha.dtype, device=alpha.device)
    tangents = torch.as_tensor(slopes, dtype=alpha.dtype, device=alpha.device)
    step = 2.0 / (ALPHA_GRID_POINTS - 1)
    position = alpha / step
    index = position.detach().floor().clamp(0, ALPHA_GRID_POINTS - 2).long()
    t = position - index
    t2, t3 = t * t, t * t * t
    h00, h10 = 2 * t3 - 3 * t2 + 1, t3 - 2 * t2 + t
    h01, h11 = -2 * t3 + 3 * t2, t3 - t2
    return (
        h00 * table[index]
        + h10 * step * tangents[index]
        + h01 * table[index + 1]
        + h11 * step * tangents[index + 1]
    )


def robust_nll(x: Tensor, alpha: Tensor | float, scale: Tensor | float) -> Tensor:
    """Elementwise negative log-likelihood ``rho(x, alpha, c) + log c + log Z(alpha)``."""
    alpha = torch.as_tensor(alpha, dtype=x.dtype, device=x.device)
    scale = torch.as_tensor(scale, dtype=x.dtype, device=x.device)
    return robust_rho(x, alpha, scale) + torch.log(scale) + log_partition(alpha)


def _inverse_softplus(y: float) -> float:
    return y + math.log(-math.expm1(-y))


class AdaptiveRobustLoss(nn.Module):
    """Barron's adaptive loss on images with a learned shape and scale per pixel and channel.

    ``alpha = lo + (hi - lo) * sigmoid(a)`` and ``scale = softplus(s) + scale_min`` keep both in range
    for any value of the raw parameters ``a``/``s``. The parameters are stored at the *final* resolution;
    a residual at a lower resolution (progressive growing) uses the mean of each block of raw parameters
    it covers. Every entry of a block receives the same gradient, so entries of a block stay equal under
    any elementwise optimiser (Adam, SGD): growing to the next resolution then starts each new pixel from
    the value of the coarse pixel that covered it (the authors' 2x2 copy) without any explicit step, and the
    optimiser state never changes shape.
    """

    def __init__(
        self,
        channels: int,
        resolution: int,
        alpha_range: tuple[float, float] = (0.001, 1.999),
        alpha_init: float = 1.0,
        scale_init: float = 1.0,
        scale_min: float = 1e-5,
    ) -> None:
        super().__init__()
        if not isinstance(channels, int) or channels < 1:
            raise ValueError(f"channels: expected a positive int, got {channels!r}")
        if not isinstance(resolution, int) or resolution < 1:
            raise ValueError(f"resolution: expected a positive int, got {resolution!r}")
        lo, hi = alpha_range
        if not 0 < lo < hi < 2:
            raise ValueError(f"alpha_range: expected 0 < lo < hi < 2, got {alpha_range!r}")
        if not lo < alpha_init < hi:
            raise ValueError(f"alpha_init: expected a value inside alpha_range {alpha_range}, got {alpha_init!r}")
        if scale_min <= 0 or scale_init <= scale_min:
            raise ValueError(f"scale_init: expected > scale_min={scale_min} > 0, got {scale_init!r}")
        self.alpha_range = (float(lo), float(hi))
        self.scale_min = float(scale_min)
        self.resolution = resolution
        fraction = (alpha_init - lo) / (hi - lo)
        shape = (channels, resolution, resolution)
        self.alpha_raw = nn.Parameter(torch.full(shape, math.log(fraction / (1 - fraction))))
        self.scale_raw = nn.Parameter(torch.full(shape, _inverse_softplus(scale_init - scale_min)))

    def _pooled(self, raw: Tensor, resolution: int) -> Tensor:
        if resolution > self.resolution or self.resolution % resolution:
            raise ValueError(
                f"resolution: expected a divisor of the loss resolution {self.resolution}, got {resolution}"
            )
        factor = self.resolution // resolution
        return raw if factor == 1 else F.avg_pool2d(raw[None], factor)[0]

    def alpha(self, resolution: int | None = None) -> Tensor:
        """Shape parameters ``(C, r, r)`` at resolution ``r`` (default: the full resolution)."""
        lo, hi = self.alpha_range
        return lo + (hi - lo) * torch.sigmoid(self._pooled(self.alpha_raw, resolution or self.resolution))

    def scale(self, resolution: int | None = None) -> Tensor:
        """Scale parameters ``(C, r, r)`` at resolution ``r`` (default: the full resolution)."""
        return F.softplus(self._pooled(self.scale_raw, resolution or self.resolution)) + self.scale_min

    def forward(self, residual: Tensor) -> Tensor:
        """Mean negative log-likelihood of a residual batch ``(B, C, r, r)``."""
        if residual.dim() != 4 or residual.shape[1] != self.alpha_raw.shape[0]:
            raise ValueError(
                f"residual: expected shape (B, {self.alpha_raw.shape[0]}, r, r), got {tuple(residual.shape)}"
            )
        if residual.shape[2] != residual.shape[3]:
            raise ValueError(f"residual: expected square images, got {tuple(residual.shape)}")
        r = residual.shape[-1]
        residual = full_precision(residual)
        alpha, scale = self.alpha(r), self.scale(r)
        # log c + log Z(alpha) does not depend on the sample: average it once per pixel, not per element.
        return _rho(residual, alpha, scale).mean() + (torch.log(scale) + _log_partition(alpha)).mean()
