"""The two priors the IAE family adds to genae's Gaussian one."""

from __future__ import annotations

import torch
from torch import Tensor
from torch.nn import functional as F

from genae.interfaces import Prior


def _check_n(n: int) -> None:
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ValueError(f"n: expected a positive int, got {n!r}")


def _generator_device(generator: torch.Generator | None) -> torch.device:
    return generator.device if generator is not None else torch.device("cpu")


class CategoricalPrior(Prior):
    """One-hot vectors of ``latent_dim`` equally likely categories (the clustering IAE's prior)."""

    def __init__(self, latent_dim: int) -> None:
        super().__init__()
        self.latent_dim = latent_dim

    def sample(self, n: int, generator: torch.Generator | None = None,
               device: torch.device | str | None = None) -> Tensor:
        _check_n(n)
        labels = torch.randint(self.latent_dim, (n,), generator=generator, device=_generator_device(generator))
        return F.one_hot(labels, self.latent_dim).float().to(device or "cpu")

    def log_prob(self, z: Tensor) -> Tensor:
        """``-log K`` on one-hot vectors, ``-inf`` elsewhere."""
        one_hot = (z.sum(-1) == 1) & ((z == 0) | (z == 1)).all(-1)
        value = -torch.log(torch.tensor(float(self.latent_dim), dtype=z.dtype, device=z.device))
        return torch.where(one_hot, value, torch.full_like(value, -float("inf")))


class ImageBankPrior(Prior):
    """The empirical distribution of a bank of stored codes (a CycleIAE's domain-B images).

    A CycleIAE imposes domain B's *data* distribution on its code, which has no parametric form; the bank
    is a finite sample of it, filled by the recipe from the training data and saved with the weights. A
    fresh model holds seeded uniform noise until then, so it can still be sampled (and tested).
    """

    def __init__(self, latent_dim: int, size: int) -> None:
        super().__init__()
        self.latent_dim = latent_dim
        placeholder = torch.rand(size, latent_dim, generator=torch.Generator().manual_seed(0)) * 2 - 1
        self.register_buffer("bank", placeholder)

    def fill(self, codes: Tensor) -> None:
        """Store the first ``bank_size`` rows of ``codes`` (flattened domain-B images in ``[-1, 1]``)."""
        if not isinstance(codes, Tensor) or codes.dim() != 2 or codes.shape[1] != self.latent_dim:
            raise ValueError(f"codes: expected (N, {self.latent_dim}), got "
                             f"{tuple(codes.shape) if isinstance(codes, Tensor) else type(codes).__name__}")
        if codes.shape[0] < len(self.bank):
            raise ValueError(f"codes: need at least {len(self.bank)} rows to fill the bank, got {codes.shape[0]}")
        self.bank.copy_(codes[: len(self.bank)])

    def sample(self, n: int, generator: torch.Generator | None = None,
               device: torch.device | str | None = None) -> Tensor:
        _check_n(n)
        rows = torch.randint(len(self.bank), (n,), generator=generator, device=_generator_device(generator))
        return self.bank[rows.to(self.bank.device)].to(device or self.bank.device)
