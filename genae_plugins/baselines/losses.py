"""The two divergences the baselines add to a reconstruction loss.

* :func:`gaussian_kl` — the VAE's analytic KL between a diagonal Gaussian posterior and N(0, I).
* :func:`imq_mmd` — WAE-MMD's kernel estimate of the distance between encoded codes and prior draws,
  with the inverse multiquadratic kernel summed over several scales (Tolstikhin et al., 2018, sec. 4).

Both are averaged over the batch; the recipes weight them (the automodulator paper's weights: KL 0.005,
MMD 2 or 4).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor

#: Multiples of the base kernel width 2·d·σ² (σ² = 1 for an N(0, I) prior) summed by :func:`imq_mmd`,
#: as in the WAE paper's experiments: one kernel per scale guards against a badly chosen single width.
IMQ_SCALES: tuple[float, ...] = (0.1, 0.2, 0.5, 1.0, 2.0, 5.0, 10.0)


def _check_codes(value: Tensor, name: str) -> None:
    if not isinstance(value, Tensor):
        raise TypeError(f"{name}: expected a torch.Tensor, got {type(value).__name__}")
    if value.dim() != 2 or value.shape[0] < 1 or value.shape[1] < 1:
        raise ValueError(f"{name}: expected shape (batch, latent_dim), got {tuple(value.shape)}")
    if not value.is_floating_point():
        raise TypeError(f"{name}: expected a floating-point tensor, got dtype {value.dtype}")


def gaussian_kl(mean: Tensor, logvar: Tensor) -> Tensor:
    """KL( N(mean, exp(logvar)) || N(0, I) ) per image (summed over latent dimensions), averaged over the batch.

    Per dimension: ``(mean² + exp(logvar) − 1 − logvar) / 2``. The per-image sum is the textbook VAE term;
    with the paper's weight 0.005 against a pixel-averaged reconstruction it keeps the posterior close
    enough to the prior for prior samples to decode to images. (Averaging over dimensions instead would
    shrink the weight by ``latent_dim`` and leave an almost plain autoencoder.)
    """
    _check_codes(mean, "mean")
    _check_codes(logvar, "logvar")
    if mean.shape != logvar.shape:
        raise ValueError(f"mean and logvar must have one shape, got {tuple(mean.shape)} and {tuple(logvar.shape)}")
    return 0.5 * (mean.pow(2) + logvar.exp() - 1.0 - logvar).sum(dim=1).mean()


def imq_mmd(codes: Tensor, prior: Tensor, scales: Sequence[float] = IMQ_SCALES, prior_variance: float = 1.0) -> Tensor:
    """Unbiased MMD² estimate between ``codes`` and ``prior`` draws (same shape), IMQ kernel.

    ``k(a, b) = C / (C + |a − b|²)`` with ``C = 2·d·prior_variance·s`` for each scale ``s``, summed over
    scales. The within-set averages leave out the diagonal (the U-statistic of the WAE paper), so the
    estimate is unbiased and can be slightly negative when the two sets come from one distribution.
    """
    _check_codes(codes, "codes")
    _check_codes(prior, "prior")
    if codes.shape != prior.shape:
        raise ValueError(f"codes and prior must have one shape, got {tuple(codes.shape)} and {tuple(prior.shape)}")
    n, dim = codes.shape
    if n < 2:
        raise ValueError(f"codes: the unbiased MMD needs at least 2 samples, got {n}")
    if not scales or any(s <= 0 for s in scales):
        raise ValueError(f"scales: expected positive numbers, got {list(scales)!r}")
    if prior_variance <= 0:
        raise ValueError(f"prior_variance: expected a positive number, got {prior_variance!r}")
    d_cc = _squared_distances(codes, codes)
    d_pp = _squared_distances(prior, prior)
    d_cp = _squared_distances(codes, prior)
    off_diagonal = 1.0 - torch.eye(n, dtype=codes.dtype, device=codes.device)
    total = codes.new_zeros(())
    for scale in scales:
        c = 2.0 * dim * prior_variance * scale
        within = ((c / (c + d_cc) + c / (c + d_pp)) * off_diagonal).sum() / (n * (n - 1))
        across = (c / (c + d_cp)).mean()
        total = total + within - 2.0 * across
    return total


def _squared_distances(a: Tensor, b: Tensor) -> Tensor:
    """|a_i − b_j|² for all pairs, smooth everywhere (``cdist``'s square root is not, at zero distance)."""
    return (a.pow(2).sum(1, keepdim=True) + b.pow(2).sum(1) - 2.0 * a @ b.T).clamp_min(0.0)
