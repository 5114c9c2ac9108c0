"""Latent priors. Each draws from a ``torch.Generator`` so sampling is reproducible on any device."""

from __future__ import annotations

import math

import torch
from torch import Tensor

from genae.interfaces import Prior


def _check_n(n: int) -> None:
    if not isinstance(n, int) or n < 1:
        raise ValueError(f"n: expected a positive int, got {n!r}")


def _standard_normal(n: int, dim: int, generator: torch.Generator | None, device: torch.device | str | None) -> Tensor:
    # Draw on the generator's device, then move: a CPU generator gives the same numbers on any target.
    gen_device = generator.device if generator is not None else torch.device("cpu")
    return torch.randn(n, dim, generator=generator, device=gen_device).to(device or "cpu")


class GaussianPrior(Prior):
    """z ~ N(0, I)."""

    def __init__(self, latent_dim: int) -> None:
        super().__init__()
        self.latent_dim = latent_dim

    def sample(self, n: int, generator: torch.Generator | None = None, device: torch.device | str | None = None) -> Tensor:
        _check_n(n)
        return _standard_normal(n, self.latent_dim, generator, device)

    def log_prob(self, z: Tensor) -> Tensor:
        return -0.5 * (z.pow(2).sum(-1) + self.latent_dim * math.log(2 * math.pi))


class SpherePrior(Prior):
    """Uniform on the unit sphere: N(0, I) draws projected to unit length (the automodulator's prior)."""

    def __init__(self, latent_dim: int) -> None:
        super().__init__()
        self.latent_dim = latent_dim

    @property
    def is_spherical(self) -> bool:
        return True

    def sample(self, n: int, generator: torch.Generator | None = None, device: torch.device | str | None = None) -> Tensor:
        _check_n(n)
        return torch.nn.functional.normalize(_standard_normal(n, self.latent_dim, generator, device), dim=1)

    def log_prob(self, z: Tensor) -> Tensor:
        """Log of the uniform density on S^{d-1} (constant: minus the log surface area)."""
        d = self.latent_dim
        log_area = math.log(2) + (d / 2) * math.log(math.pi) - math.lgamma(d / 2)
        return torch.full(z.shape[:-1], -log_area, dtype=z.dtype, device=z.device)


def slerp(a: Tensor, b: Tensor, t: float | Tensor) -> Tensor:
    """Spherical interpolation between rows of ``a`` and ``b`` (unit vectors stay unit)."""
    a_n, b_n = torch.nn.functional.normalize(a, dim=-1), torch.nn.functional.normalize(b, dim=-1)
    dot = (a_n * b_n).sum(-1, keepdim=True).clamp(-1 + 1e-7, 1 - 1e-7)
    omega = torch.acos(dot)
    t = torch.as_tensor(t, dtype=a.dtype, device=a.device)
    if t.dim() == 1:
        t = t[:, None]
    sin_omega = torch.sin(omega)
    out = (torch.sin((1 - t) * omega) * a_n + torch.sin(t * omega) * b_n) / sin_omega
    return torch.nn.functional.normalize(out, dim=-1)


def lerp(a: Tensor, b: Tensor, t: float | Tensor) -> Tensor:
    t = torch.as_tensor(t, dtype=a.dtype, device=a.device)
    if t.dim() == 1:
        t = t[:, None]
    return a + (b - a) * t


class FlowMappedPrior(Prior):
    """``w = φ⁻¹(z)`` with ``z ~ N(0, I)``: the distribution an invertible network pushes a Gaussian to.

    This is LIA's w-space seen as a prior (what its generator reads). ``log_prob`` is exact because the
    flow's ``log_prob`` is (NICE couplings preserve volume).
    """

    def __init__(self, flow: torch.nn.Module) -> None:
        super().__init__()
        for name in ("inverse", "log_prob"):
            if not callable(getattr(flow, name, None)):
                raise TypeError(f"flow: expected an invertible network with {name}(), got {type(flow).__name__}")
        self.flow = flow
        self.latent_dim = int(flow.dim)

    def sample(self, n: int, generator: torch.Generator | None = None, device: torch.device | str | None = None) -> Tensor:
        _check_n(n)
        z = _standard_normal(n, self.latent_dim, generator, device)
        reference = next(self.flow.parameters(), None)
        return self.flow.inverse(z if reference is None else z.to(reference.dtype))

    def log_prob(self, z: Tensor) -> Tensor:
        return self.flow.log_prob(z)
