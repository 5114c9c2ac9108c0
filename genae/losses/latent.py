"""Distances between latent codes."""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor

from genae.precision import full_precision


def cosine_distance(predicted: Tensor, target: Tensor) -> Tensor:
    """Mean over the batch of ``1 - cos(predicted, target)``: 0 when directions agree, 2 when opposite.

    For codes on the unit sphere only the direction carries information, so this is the natural latent
    reconstruction error (AGE, PIONEER, the automodulator).
    """
    if not isinstance(predicted, Tensor) or not isinstance(target, Tensor):
        raise TypeError("predicted, target: expected tensors")
    if predicted.dim() != 2 or predicted.shape != target.shape:
        raise ValueError(
            f"predicted, target: expected equal shapes (B, D), got {tuple(predicted.shape)} and {tuple(target.shape)}"
        )
    similarity = F.cosine_similarity(full_precision(predicted), full_precision(target), dim=1)
    return (1 - similarity).mean()
