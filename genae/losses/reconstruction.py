"""Plain pixel reconstruction errors (the robust alternative lives in :mod:`genae.losses.robust`)."""

from __future__ import annotations

from torch import Tensor

from genae.precision import full_precision


def _check_pair(output: Tensor, target: Tensor) -> None:
    if not isinstance(output, Tensor) or not isinstance(target, Tensor):
        raise TypeError("output, target: expected tensors")
    if output.shape != target.shape:
        raise ValueError(f"output, target: expected equal shapes, got {tuple(output.shape)} and {tuple(target.shape)}")


def l1_loss(output: Tensor, target: Tensor) -> Tensor:
    """Mean absolute error over all elements."""
    _check_pair(output, target)
    return (full_precision(output) - full_precision(target)).abs().mean()


def l2_loss(output: Tensor, target: Tensor) -> Tensor:
    """Mean squared error over all elements (used for images and for decoder feature maps alike)."""
    _check_pair(output, target)
    return ((full_precision(output) - full_precision(target)) ** 2).mean()
