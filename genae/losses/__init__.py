"""Reusable loss terms. Each returns an unweighted scalar; recipes weight, sum and log them."""

from genae.losses.divergence import empirical_kl
from genae.losses.latent import cosine_distance
from genae.losses.reconstruction import l1_loss, l2_loss
from genae.losses.robust import AdaptiveRobustLoss, log_partition, robust_nll, robust_rho

__all__ = [
    "AdaptiveRobustLoss",
    "cosine_distance",
    "empirical_kl",
    "l1_loss",
    "l2_loss",
    "log_partition",
    "robust_nll",
    "robust_rho",
]
