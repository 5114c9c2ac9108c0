"""StyleGAN2 as a genae model: mapping prior · synthesis decoder · learned inversion encoder.

``prior.sample`` draws z and maps it, so ``decode``/``sample``/``mix`` and :func:`genae.invert` all work in
W (the latents the synthesis reads). ``model.mapping`` (z → w), ``model.mean_w(n)``, ``model.truncate``
and W+ per-slot decoding through ``decoder.forward_styles`` are the StyleGAN2 operations. The encoder is a
timm-backbone inversion encoder (:mod:`genae_plugins.stylegan.encoder`): untrained in a converted
checkpoint (train it with this architecture's recipe), so invert with ``genae.invert`` until then.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor

from genae.interfaces import GenerativeAutoencoder
from genae_plugins.stylegan.config import StyleGAN2Config
from genae_plugins.stylegan.discriminator import StyleGAN2Discriminator
from genae_plugins.stylegan.encoder import TimmStyleEncoder
from genae_plugins.stylegan.generator import MappedGaussianPrior, MappingNetwork, StyleGAN2Synthesis

#: Draws behind a fresh model's mean w (rosinality's ``mean_latent`` default is 4096).
MEAN_W_SAMPLES = 4096


class StyleGAN2(GenerativeAutoencoder):
    config_class = StyleGAN2Config

    encoder: TimmStyleEncoder
    decoder: StyleGAN2Synthesis
    prior: MappedGaussianPrior

    def __init__(self, config: StyleGAN2Config) -> None:
        super().__init__(config)
        self.prior = MappedGaussianPrior(config.latent_dim, config.n_mlp, config.lr_mlp, **config.mapping_shape)
        self.decoder = StyleGAN2Synthesis(config.latent_dim, config.widths, out_channels=config.channels_in,
                                          conv_clamp=config.conv_clamp)
        if config.discriminator is not None:
            try:
                self.discriminator = StyleGAN2Discriminator(**config.discriminator)
            except TypeError as error:
                raise ValueError(f"discriminator: {error}") from None
        self.encoder = TimmStyleEncoder(config.encoder_backbone, config.channels_in, config.latent_dim,
                                        self.decoder.num_styles, output=config.encoder_output)
        with torch.no_grad():
            self.prior.w_avg.copy_(self.mean_w(MEAN_W_SAMPLES)[0])
        self.encoder.set_center(self.prior.w_avg)

    def capabilities(self) -> dict[str, bool]:
        return {**super().capabilities(), "truncation": True, "noise_maps": True}

    @property
    def mapping(self) -> MappingNetwork:
        """z ``(B, z_dim)`` (and labels c for a conditional generator) → w ``(B, D)``: ``model.mapping(z, c)``."""
        return self.prior.mapping

    @property
    def w_avg(self) -> Tensor:
        """The stored mean w ``(D,)``: the checkpoint's ``latent_avg``, or a fresh model's seeded estimate."""
        return self.prior.w_avg

    def mean_w(self, n: int = MEAN_W_SAMPLES, generator: torch.Generator | None = None) -> Tensor:
        """Mean of ``n`` mapped draws, ``(1, D)`` (rosinality's ``mean_latent``); seed 0 unless ``generator``."""
        generator = generator or torch.Generator().manual_seed(0)
        with torch.no_grad():
            return self.prior.sample(n, generator=generator).mean(0, keepdim=True)

    def truncate(self, w: Tensor, psi: float, center: Tensor | None = None, cutoff: int | None = None) -> Tensor:
        """``center + psi·(w − center)`` for w ``(B, D)`` or W+ ``(B, S, D)``; ``center`` defaults to ``w_avg``.

        ``cutoff``: truncate only slots ``0 … cutoff−1`` (NVIDIA's ``truncation_cutoff``); the result is W+.
        """
        if isinstance(psi, bool) or not isinstance(psi, (int, float)):
            raise ValueError(f"psi: expected a number, got {psi!r}")
        if not isinstance(w, Tensor) or w.dim() not in (2, 3) or w.shape[-1] != self.latent_dim:
            got = tuple(w.shape) if isinstance(w, Tensor) else type(w).__name__
            raise ValueError(f"w: expected (B, {self.latent_dim}) or (B, S, {self.latent_dim}), got {got}")
        center = self.w_avg if center is None else center
        if cutoff is None:
            return torch.lerp(center.to(w.dtype).expand_as(w), w, float(psi)) if psi != 1 else w
        if isinstance(cutoff, bool) or not isinstance(cutoff, int) or cutoff < 0:
            raise ValueError(f"cutoff: expected a non-negative int (slots to truncate), got {cutoff!r}")
        wplus = w if w.dim() == 3 else w[:, None].expand(-1, self.decoder.num_styles, -1)
        head = self.truncate(wplus[:, :cutoff], psi, center)
        return torch.cat([head, wplus[:, cutoff:]], dim=1)

    def sample(self, n: int, generator: torch.Generator | None = None, device: torch.device | str | None = None,
               truncation: float = 1.0, labels: Tensor | Sequence[int] | None = None,
               truncation_cutoff: int | None = None) -> Tensor:
        """Decode mapped draws, truncated towards ``w_avg`` by ``truncation`` (ψ; 1 = none) in the first
        ``truncation_cutoff`` slots (None: all).

        ``labels``: classes (indices or ``(n, c_dim)`` vectors) for a conditional generator; default uniform draws.
        """
        if not isinstance(n, int) or isinstance(n, bool) or n < 1:
            raise ValueError(f"n: expected a positive int, got {n!r}")
        w = self.prior.sample(n, generator=generator, device=device or self.device, labels=labels)
        if truncation_cutoff is None:
            return self.decode(self.truncate(w, truncation))
        wplus = self.truncate(w, truncation, cutoff=truncation_cutoff)
        return self.decoder.forward_styles(list(wplus.unbind(1))).clamp(-1, 1)

    def encode_styles(self, x: Tensor) -> Tensor:
        """Per-slot latents ``(B, num_styles, D)`` from the inversion encoder (W+, or w repeated)."""
        self.check_images(x)
        return self.encoder.forward_styles(x)
