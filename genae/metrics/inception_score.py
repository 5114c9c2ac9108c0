"""Inception Score (Salimans et al. 2016): exp(E_x KL(p(y|x) || p(y))), mean and std over 10 splits.

Class probabilities come from the FID extractor's own classifier head applied to the features the bench
already has: for ``inception-v3-compat`` the 1008-way logits *without* the bias, as in the original
OpenAI code and torch-fidelity's ``logits_unbiased`` (the classifier ``fc.weight`` is read from the same
published weights file the extractor loaded; FID's network itself does not keep it); for ``fashion-mnist-features`` the 10-way head of
genae's Fashion-MNIST classifier (a *domain* score, like the "MNIST IS" of the literature). The splits are
consecutive chunks of the samples in their given order; the ± is the population standard deviation over
the splits (``np.std``, as in the original code).
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor

from genae.metrics.frechet import _check_features

SPLITS = 10


@functools.lru_cache(maxsize=2)
def _inception_classifier(path: Path) -> Tensor:
    state = torch.load(path, map_location="cpu", weights_only=True)
    if "fc.weight" not in state:
        raise ValueError(f"{path}: holds no 1008-way classifier ('fc.weight'), which the Inception Score needs")
    return state["fc.weight"]


def logits_from_features(extractor: Any, features: Tensor) -> Tensor:
    """Class logits ``(N, classes)`` (float64) of an extractor's ``(N, dim)`` features, via its classifier head."""
    if extractor.name == "inception-v3-compat":
        if extractor.weights_path is None:
            raise ValueError("the Inception Score needs the published Inception weights' classifier; "
                             "a RANDOM-INIT extractor has none")
        weight, bias = _inception_classifier(Path(extractor.weights_path)), None
    elif extractor.name == "fashion-mnist-features":
        weight, bias = extractor.network.head.weight, extractor.network.head.bias
    else:
        raise ValueError(f"extractor {extractor.name!r} has no classifier head for the Inception Score")
    logits = _check_features(features, "features", min_n=1) @ weight.detach().cpu().double().T
    return logits if bias is None else logits + bias.detach().cpu().double()


def inception_score(logits: Tensor | np.ndarray, splits: int = SPLITS) -> dict[str, float]:
    """IS mean and population std over ``splits`` consecutive chunks of ``(N, classes)`` logits (float64)."""
    if isinstance(splits, bool) or not isinstance(splits, int) or splits < 1:
        raise ValueError(f"splits: expected a positive int, got {splits!r}")
    x = _check_features(logits, "logits", min_n=splits)
    log_p = torch.log_softmax(x, dim=1)
    scores = []
    for i in range(splits):
        chunk = log_p[i * len(x) // splits : (i + 1) * len(x) // splits]
        log_marginal = torch.logsumexp(chunk, dim=0) - np.log(len(chunk))
        kl = (chunk.exp() * (chunk - log_marginal)).sum(1).mean()
        scores.append(float(kl.exp()))
    return {"mean": float(np.mean(scores)), "std": float(np.std(scores)), "splits": splits, "n": len(x)}
