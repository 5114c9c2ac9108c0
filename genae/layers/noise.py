"""Per-pixel Gaussian noise with a learned per-channel scale (StyleGAN's stochastic variation)."""

from __future__ import annotations

import torch
from torch import Tensor, nn


class NoiseInjection(nn.Module):
    """``x + scale[c] · n[b, h, w]``: one ``N(0, 1)`` draw per sample and pixel, shared by all channels.

    Sharing the draw across channels is StyleGAN's (and the automodulator authors') form: each channel
    chooses through its scale how much of the pixel's noise it uses. The scale starts at 0, so the layer
    is the identity at initialisation and learns how much noise helps. Callers decide *when* noise is on
    (genae's decoders: training mode only) and may pass a ``torch.Generator`` for reproducible draws; a
    generator on another device than ``x`` draws there and the noise is moved, so a CPU generator gives
    the same noise on any device.
    """

    def __init__(self, channels: int) -> None:
        super().__init__()
        if not isinstance(channels, int) or channels < 1:
            raise ValueError(f"channels: expected a positive int, got {channels!r}")
        self.scale = nn.Parameter(torch.zeros(channels))

    def forward(self, x: Tensor, generator: torch.Generator | None = None) -> Tensor:
        shape = (x.shape[0], 1, *x.shape[2:])
        if generator is None:
            noise = torch.randn(shape, device=x.device, dtype=x.dtype)
        else:
            noise = torch.randn(shape, generator=generator, device=generator.device, dtype=x.dtype).to(x.device)
        return torch.addcmul(x, noise, self.scale.view(1, -1, 1, 1))
