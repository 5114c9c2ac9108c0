"""Reusable loss terms. Each returns an unweighted scalar; recipes weight, sum and log them."""

from genae.losses.adversarial import discriminator_logistic_loss, generator_logistic_loss, r1_penalty
from genae.losses.divergence import empirical_kl
from genae.losses.latent import cosine_distance
from genae.losses.reconstruction import l1_loss, l2_loss
from genae.losses.robust import AdaptiveRobustLoss, log_partition, robust_nll, robust_rho

__all__ = [
    "AdaptiveRobustLoss",
    "cosine_distance",
    "discriminator_logistic_loss",
    "empirical_kl",
    "generator_logistic_loss",
    "l1_loss",
    "l2_loss",
    "log_partition",
    "r1_penalty",
    "robust_nll",
    "robust_rho",
]
