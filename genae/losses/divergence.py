"""Divergences between a batch of latents and a prior, computed from the batch's own statistics."""

from __future__ import annotations

import torch
from torch import Tensor

from genae.precision import full_precision


def empirical_kl(latents: Tensor, eps: float = 1e-8) -> Tensor:
    """KL from N(m, v) to N(0, 1) averaged over dimensions, with m, v the batch's per-dimension mean and variance.

    ``mean((v + m^2)/2 - log(v)/2 - 1/2)``: the AGE/PIONEER/automodulator statistic that lets a
    deterministic encoder play an adversarial game on its latent distribution. ``v`` is the population
    (biased) variance; ``eps`` keeps ``log v`` finite when a dimension collapses.
    """
    if not isinstance(latents, Tensor) or latents.dim() != 2:
        raise ValueError(
            f"latents: expected a tensor of shape (B, D), got "
            f"{tuple(latents.shape) if isinstance(latents, Tensor) else type(latents).__name__}"
        )
    if latents.shape[0] < 2:
        raise ValueError(f"latents: need at least 2 samples for a variance, got batch {latents.shape[0]}")
    latents = full_precision(latents)
    mean = latents.mean(dim=0)
    var = latents.var(dim=0, unbiased=False)
    return ((var + mean**2) / 2 - torch.log(var + eps) / 2 - 0.5).mean()
