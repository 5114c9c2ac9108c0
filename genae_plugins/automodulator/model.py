"""The automodulator (Heljakka et al., 2020): a style-based autoencoder with one latent on the unit sphere.

Encoder and decoder are :mod:`genae.nets.progressive`'s networks; the prior is uniform on the sphere and
the encoder's codes are L2-normalised, so codes and prior samples live in the same space and a decoder
block can be driven by any of them. ``encode``/``decode``/``reconstruct``/``sample``/``mix`` are inherited;
this class adds the phase-aware entry points the training recipe uses and the editing operations of the
paper: conditional sampling and invariance swaps (spherical interpolation is the inherited
``interpolate``: the prior is the sphere).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor

from genae.interfaces import GenerativeAutoencoder, StyleRange
from genae.nets.progressive import ProgressiveEncoder, ProgressiveStyleDecoder, resolution_of_phase
from genae.priors import SpherePrior
from genae_plugins.automodulator.config import AutomodulatorConfig


class Automodulator(GenerativeAutoencoder):
    config_class = AutomodulatorConfig

    encoder: ProgressiveEncoder
    decoder: ProgressiveStyleDecoder
    prior: SpherePrior

    def __init__(self, config: AutomodulatorConfig) -> None:
        super().__init__(config)
        self.encoder = ProgressiveEncoder(
            config.latent_dim, config.encoder_widths, in_channels=config.channels_in, normalize=True,
            final_channels=config.encoder_final_channels,
        )
        self.decoder = ProgressiveStyleDecoder(
            config.latent_dim, config.decoder_widths, out_channels=config.channels_in, use_noise=config.use_noise,
            support_after=config.support_block,
        )
        self.prior = SpherePrior(config.latent_dim)

    def capabilities(self) -> dict[str, bool]:
        return {**super().capabilities(), "conditional_sample": True, "swap": True}

    # -- phase-aware entry points (progressive training) ---------------------------------------------
    def encode_at(self, x: Tensor, phase: int, alpha: float = 1.0) -> Tensor:
        """Encode images at the phase's resolution ``4·2^phase`` while block ``phase`` fades in by ``alpha``."""
        self._check_images_at(x, phase)
        return self.encoder(x, phase=phase, alpha=alpha)

    def decode_styles_at(self, styles: Sequence[Tensor], phase: int, alpha: float = 1.0,
                         noise_generator: torch.Generator | None = None) -> Tensor:
        """Raw (unclamped) decoder output at ``4·2^phase`` px; ``styles`` holds one latent per block."""
        return self.decoder.forward_styles(styles, phase=phase, alpha=alpha, noise_generator=noise_generator)

    def _check_images_at(self, x: Tensor, phase: int) -> None:
        self.decoder._phase(phase)  # a clear error for a phase this model does not have
        if not isinstance(x, Tensor):
            raise TypeError(f"images: expected a torch.Tensor, got {type(x).__name__}")
        side = resolution_of_phase(phase)
        if x.dim() != 4 or tuple(x.shape[1:]) != (self.channels, side, side):
            raise ValueError(f"images: expected shape (B, {self.channels}, {side}, {side}) at phase {phase}, "
                             f"got {tuple(x.shape)}")
        if not x.is_floating_point():
            raise TypeError(f"images: expected a floating-point tensor in [-1, 1], got dtype {x.dtype}")

    # -- editing --------------------------------------------------------------------------------------
    def conditional_sample(self, x: Tensor, keep: StyleRange | Sequence[StyleRange] = "coarse", n: int = 1,
                           generator: torch.Generator | None = None) -> Tensor:
        """Keep the ``keep`` styles of each input image, draw every other block's style from the prior.

        ``keep`` is one range (a name such as ``"coarse"``, ``(start, stop)`` or ``range``) or a list of
        them. Returns ``(B, n, C, H, W)``: ``n`` samples per input, clamped to ``[-1, 1]``.
        """
        if not isinstance(n, int) or isinstance(n, bool) or n < 1:
            raise ValueError(f"n: expected a positive int, got {n!r}")
        keep_list = list(keep) if isinstance(keep, list) else [keep]
        if not keep_list or any(spec is None for spec in keep_list):
            raise ValueError(f"keep: expected one or more style ranges to keep, got {keep!r}")
        codes = self.encode(x).repeat_interleave(n, dim=0)
        draws = self.prior.sample(codes.shape[0], generator=generator, device=codes.device).to(codes.dtype)
        styles = self.mix_styles([codes] * len(keep_list) + [draws], [*keep_list, None])
        images = self.decoder.forward_styles(styles).clamp(-1, 1)
        return images.unflatten(0, (x.shape[0], n))

    def swap(self, x_a: Tensor, x_b: Tensor, at_block: int) -> Tensor:
        """Decode blocks ``< at_block`` from ``x_a``'s code and blocks ``>= at_block`` from ``x_b``'s.

        Any model can do this, but it means "pose of a, identity of b" (or the reverse) only for a model
        trained with the paper's flip-invariance loss at block ``at_block`` (section 3.3): that training
        makes the blocks below the cut carry the mirrored factor and the blocks above carry the rest.
        """
        n = self.decoder.num_styles
        if not isinstance(at_block, int) or isinstance(at_block, bool) or not 1 <= at_block < n:
            raise ValueError(f"at_block: expected an int in [1, {n - 1}] (a cut between two of the {n} blocks), "
                             f"got {at_block!r}")
        z_a, z_b = self.encode(x_a), self.encode(x_b)
        if z_a.shape != z_b.shape:
            raise ValueError(f"x_b: expected as many images as x_a ({z_a.shape[0]}), got {z_b.shape[0]}")
        return self.mix([z_a, z_b], [(0, at_block), (at_block, n)])
