"""NICE additive coupling (Dinh et al. 2015): an invertible, volume-preserving map between latent spaces.

LIA puts it where StyleGAN has its mapping network: ``w = φ⁻¹(z)`` feeds the generator, and an encoder that
predicts ``w`` reaches the prior space exactly through ``z = φ(w)``. One coupling step (direction w → z)
reverses the vector, splits it into halves ``(a, b)`` and sets ``b ← b + f(a)``; the inverse subtracts.
Every step has a unit Jacobian determinant, so ``log p(w) = log N(φ(w); 0, I)`` exactly.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn
from torch.nn import functional as F

from genae.layers.equalized import EqualizedLinear


class CouplingFunction(nn.Module):
    """``f``: half → hidden → other half, equalised-lr dense layers, LeakyReLU(0.2) after both (as LIA)."""

    def __init__(self, in_features: int, hidden: int, out_features: int, lr_multiplier: float) -> None:
        super().__init__()
        self.hidden = EqualizedLinear(in_features, hidden, gain=lr_multiplier)
        self.out = EqualizedLinear(hidden, out_features, gain=lr_multiplier)

    def forward(self, a: Tensor) -> Tensor:
        return F.leaky_relu(self.out(F.leaky_relu(self.hidden(a), 0.2)), 0.2)


class AdditiveCoupling(nn.Module):
    """One step: ``forward`` maps w-side to z-side, ``inverse`` undoes it with the same ``f``."""

    def __init__(self, dim: int, hidden: int, lr_multiplier: float) -> None:
        super().__init__()
        self.split = dim // 2
        self.f = CouplingFunction(self.split, hidden, dim - self.split, lr_multiplier)

    def forward(self, x: Tensor) -> Tensor:
        a, b = x.flip(-1).split([self.split, x.shape[-1] - self.split], dim=-1)
        return torch.cat([a, b + self.f(a)], dim=-1)

    def inverse(self, y: Tensor) -> Tensor:
        a, b = y.split([self.split, y.shape[-1] - self.split], dim=-1)
        return torch.cat([a, b - self.f(a)], dim=-1).flip(-1)


class NICEFlow(nn.Module):
    """``steps`` additive couplings: ``forward(w) -> z``, ``inverse(z) -> w``, ``log_prob(w)`` under N(0, I).

    ``hidden`` defaults to ``dim`` (LIA: the latent width); ``lr_multiplier`` scales the dense layers'
    effective learning rate (0.01 in LIA and StyleGAN's mapping network).
    """

    def __init__(self, dim: int, steps: int = 4, hidden: int | None = None, lr_multiplier: float = 0.01) -> None:
        super().__init__()
        for name, value in (("dim", dim), ("steps", steps)):
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ValueError(f"{name}: expected a positive int, got {value!r}")
        if dim < 2:
            raise ValueError(f"dim: a coupling splits the vector in two halves, so it needs dim >= 2, got {dim}")
        hidden = dim if hidden is None else hidden
        if not isinstance(hidden, int) or isinstance(hidden, bool) or hidden < 1:
            raise ValueError(f"hidden: expected a positive int or None, got {hidden!r}")
        self.dim = dim
        self.steps = nn.ModuleList(AdditiveCoupling(dim, hidden, lr_multiplier) for _ in range(steps))

    def _check(self, v: Tensor, name: str) -> None:
        if not isinstance(v, Tensor) or v.dim() != 2 or v.shape[1] != self.dim:
            shape = tuple(v.shape) if isinstance(v, Tensor) else type(v).__name__
            raise ValueError(f"{name}: expected shape (B, {self.dim}), got {shape}")

    def forward(self, w: Tensor) -> Tensor:
        """``z = φ(w)``."""
        self._check(w, "w")
        for step in self.steps:
            w = step(w)
        return w

    def inverse(self, z: Tensor) -> Tensor:
        """``w = φ⁻¹(z)``: the steps backwards, each subtracting what its forward added."""
        self._check(z, "z")
        for step in reversed(self.steps):
            z = step.inverse(z)
        return z

    def log_prob(self, w: Tensor) -> Tensor:
        """Exact ``log p(w)`` with ``z = φ(w) ~ N(0, I)``: the log-determinant is 0 (volume preserving)."""
        z = self(w)
        return -0.5 * (z.pow(2).sum(-1) + self.dim * math.log(2 * math.pi))
