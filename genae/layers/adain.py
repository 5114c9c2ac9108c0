"""Adaptive instance normalisation: a latent sets each channel's scale and shift (the automodulator's AdaIN).

The exact form matters for loading the authors' weights: the statistics are per sample and channel over
H×W, the standard deviation is the *unbiased* one (divides by H·W − 1) and there is no epsilon; the style
affine is a plain ``Linear(latent, 2C)`` whose first half is the scale and second half the shift, both
biases initialised to 1.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from genae.precision import full_precision


class AdaIN(nn.Module):
    def __init__(self, latent_dim: int, channels: int) -> None:
        super().__init__()
        for name, value in (("latent_dim", latent_dim), ("channels", channels)):
            if not isinstance(value, int) or value < 1:
                raise ValueError(f"{name}: expected a positive int, got {value!r}")
        self.channels = channels
        self.affine = nn.Linear(latent_dim, 2 * channels)
        nn.init.xavier_normal_(self.affine.weight)
        nn.init.ones_(self.affine.bias)

    def forward(self, x: Tensor, z: Tensor) -> Tensor:
        # Statistics and the affine in float32 even under bf16/fp16 autocast: a per-channel variance over
        # H×W pixels is exactly the kind of reduction half-width floats get wrong.
        x = full_precision(x)
        style = self.affine(z).to(x.dtype)[:, :, None, None]
        scale, shift = style[:, : self.channels], style[:, self.channels :]
        var, mean = torch.var_mean(x, dim=(2, 3), keepdim=True, correction=1)
        # No epsilon, as the authors; the clamp only turns an exactly constant channel's 0/0 into 0.
        gain = scale * torch.rsqrt(var.clamp_min(torch.finfo(var.dtype).tiny))
        return torch.addcmul(shift, x - mean, gain)
