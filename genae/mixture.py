"""Full-covariance Gaussian mixtures fitted by expectation-maximisation, in torch.

Why here and not scikit-learn: a fitted prior is part of a model (its tensors are saved with the weights and
sampled on the model's device), and genae does not make users install scikit-learn to draw samples. The fit
runs in float64 on whatever device the codes are on; k-means++ seeding from a ``torch.Generator`` makes it
reproducible.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable

import torch
from torch import Tensor


@dataclasses.dataclass(frozen=True)
class MixtureFit:
    """A fitted mixture: ``weights (K,)``, ``means (K, D)``, lower Cholesky factors of the covariances
    ``scale_tril (K, D, D)``, the mean log-likelihood per point at the end, and how EM stopped."""

    weights: Tensor
    means: Tensor
    scale_tril: Tensor
    log_likelihood: float
    iterations: int
    converged: bool


def mixture_log_prob(x: Tensor, weights: Tensor, means: Tensor, scale_tril: Tensor) -> Tensor:
    """Log-density of each row of ``x`` under the mixture: ``(N,)``."""
    return torch.logsumexp(_component_log_probs(x, means, scale_tril) + weights.log(), dim=1)


def _component_log_probs(x: Tensor, means: Tensor, scale_tril: Tensor) -> Tensor:
    """``log N(x_n | mean_k, L_k L_k^T)`` for every point and component: ``(N, K)``."""
    d = x.shape[1]
    columns = []
    for mean, tril in zip(means, scale_tril):
        whitened = torch.linalg.solve_triangular(tril, (x - mean).T, upper=False)  # (D, N)
        log_det = 2 * tril.diagonal().log().sum()
        columns.append(-0.5 * (whitened.pow(2).sum(0) + log_det + d * math.log(2 * math.pi)))
    return torch.stack(columns, dim=1)


def _kmeans_plus_plus(x: Tensor, k: int, generator: torch.Generator) -> Tensor:
    """``k`` distinct seed points, each drawn with probability proportional to its squared distance from the
    seeds so far (Arthur & Vassilvitskii 2007): spread-out starts make EM's result depend little on the seed."""
    gen_device = generator.device
    first = int(torch.randint(x.shape[0], (1,), generator=generator, device=gen_device))
    centres = [x[first]]
    distance = (x - x[first]).pow(2).sum(1)
    for _ in range(1, k):
        if float(distance.sum()) == 0:
            raise ValueError(f"codes: fewer than {k} distinct points; use fewer components")
        chosen = int(torch.multinomial(distance.to(gen_device), 1, generator=generator))
        centres.append(x[chosen])
        distance = torch.minimum(distance, (x - x[chosen]).pow(2).sum(1))
    return torch.stack(centres)


def fit_gaussian_mixture(
    x: Tensor,
    components: int,
    *,
    generator: torch.Generator,
    max_iterations: int = 200,
    tolerance: float = 1e-5,
    covariance_floor: float = 1e-6,
    on_iteration: Callable[[int, float], None] | None = None,
) -> MixtureFit:
    """Fit ``components`` full-covariance Gaussians to the rows of ``x`` ``(N, D)`` by EM.

    Starts from k-means++ seeds with hard assignments, stops when the mean log-likelihood per point gains less
    than ``tolerance`` or after ``max_iterations``. ``covariance_floor`` is added to every covariance's
    diagonal so a component on a thin set of points stays invertible. ``on_iteration(i, log_likelihood)``
    reports progress.
    """
    if not isinstance(x, Tensor) or x.dim() != 2 or x.shape[0] < 2:
        raise ValueError(f"codes: expected a (N, D) tensor with N >= 2, got {getattr(x, 'shape', type(x).__name__)}")
    if isinstance(components, bool) or not isinstance(components, int) or components < 1:
        raise ValueError(f"components: expected a positive int, got {components!r}")
    if x.shape[0] < 2 * components:
        raise ValueError(f"codes: {x.shape[0]} points cannot fit {components} components; give at least "
                         f"{2 * components} points or fewer components")
    if not bool(torch.isfinite(x).all()):
        raise ValueError("codes: contain NaN or infinite values")
    x = x.to(torch.float64)
    eye = torch.eye(x.shape[1], dtype=x.dtype, device=x.device)
    seeds = _kmeans_plus_plus(x, components, generator)
    responsibilities = torch.nn.functional.one_hot(torch.cdist(x, seeds).argmin(1), components).to(x.dtype)
    previous = -math.inf
    converged = False
    for iteration in range(1, max_iterations + 1):
        weights, means, scale_tril = _maximisation(x, responsibilities, eye * covariance_floor)
        joint = _component_log_probs(x, means, scale_tril) + weights.log()
        per_point = torch.logsumexp(joint, dim=1)
        responsibilities = (joint - per_point[:, None]).exp()
        log_likelihood = float(per_point.mean())
        if on_iteration is not None:
            on_iteration(iteration, log_likelihood)
        if log_likelihood - previous < tolerance:
            converged = True
            break
        previous = log_likelihood
    return MixtureFit(weights, means, scale_tril, log_likelihood, iteration, converged)


def _maximisation(x: Tensor, responsibilities: Tensor, floor: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    """Weights, means and Cholesky factors that maximise the expected log-likelihood given soft assignments.

    A component that lost (nearly) all its points keeps a negligible weight instead of dividing by zero.
    """
    counts = responsibilities.sum(0).clamp_min(1e-12)
    weights = counts / counts.sum()
    means = (responsibilities.T @ x) / counts[:, None]
    trils = []
    for k in range(means.shape[0]):
        centred = x - means[k]
        covariance = (responsibilities[:, k, None] * centred).T @ centred / counts[k]
        trils.append(torch.linalg.cholesky(covariance + floor))
    return weights, means, torch.stack(trils)
