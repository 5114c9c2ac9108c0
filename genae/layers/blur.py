"""The [1, 2, 1] ⊗ [1, 2, 1] / 16 low-pass filter StyleGAN and the automodulator apply after upsampling convs."""

from __future__ import annotations

import torch
from torch import Tensor, nn
from torch.nn import functional as F


class Blur(nn.Module):
    """Depthwise 3×3 binomial blur, zero padding 1.

    The kernel is a fixed, non-persistent buffer (it moves with ``.to()`` but is not saved: it is part
    of the architecture, not of the weights), applied as one grouped conv.
    """

    def __init__(self, channels: int) -> None:
        super().__init__()
        if not isinstance(channels, int) or channels < 1:
            raise ValueError(f"channels: expected a positive int, got {channels!r}")
        taps = torch.tensor([1.0, 2.0, 1.0])
        kernel = torch.outer(taps, taps) / 16.0
        self.register_buffer("kernel", kernel.expand(channels, 1, 3, 3).contiguous(), persistent=False)
        self.channels = channels

    def forward(self, x: Tensor) -> Tensor:
        return F.conv2d(x, self.kernel, padding=1, groups=self.channels)

    def extra_repr(self) -> str:
        return f"channels={self.channels}"
