"""StyleGAN-1's progressive discriminator, built from genae's layers (equalised lr, blur, minibatch stddev).

Block ``b`` works at ``4·2^b`` px, as in :mod:`genae.nets.progressive`. Each block above 4 px is conv3×3 →
LeakyReLU → blur → conv3×3 → 2×2 average pool → LeakyReLU, halving the resolution and moving to the next
block's width; the 4×4 block is minibatch stddev → conv3×3 → LeakyReLU → dense → LeakyReLU → dense to one
logit. ``from_rgb[b]`` (1×1 conv + LeakyReLU) enters at block ``b``; while block ``p`` fades in, its path is
blended with ``from_rgb[p − 1]`` of the 2× downsampled image (PGGAN's fade-in, as the encoder does).
"""

from __future__ import annotations

from collections.abc import Sequence

from torch import Tensor, nn
from torch.nn import functional as F

from genae.layers import Blur, EqualizedConv2d, EqualizedLinear, MinibatchStdDev
from genae.nets.progressive import _check_widths, _Progressive

__all__ = ["ProgressiveDiscriminator"]


class _DownBlock(nn.Module):
    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__()
        self.conv0 = EqualizedConv2d(in_channels, in_channels, 3, padding=1)
        self.blur = Blur(in_channels)
        self.conv1 = EqualizedConv2d(in_channels, out_channels, 3, padding=1)

    def forward(self, x: Tensor) -> Tensor:
        x = self.blur(F.leaky_relu(self.conv0(x), 0.2))
        return F.leaky_relu(F.avg_pool2d(self.conv1(x), 2), 0.2)


class _FinalBlock(nn.Module):
    def __init__(self, channels: int, group_size: int) -> None:
        super().__init__()
        self.stddev = MinibatchStdDev(group_size)
        self.conv = EqualizedConv2d(channels + 1, channels, 3, padding=1)
        self.dense = EqualizedLinear(channels * 16, channels)
        self.out = EqualizedLinear(channels, 1)

    def forward(self, x: Tensor) -> Tensor:
        x = F.leaky_relu(self.conv(self.stddev(x)), 0.2)
        return self.out(F.leaky_relu(self.dense(x.flatten(1)), 0.2)).squeeze(1)


class ProgressiveDiscriminator(_Progressive, nn.Module):
    """Real/fake logits ``(B,)`` for images at ``4·2^phase`` px; ``channels[b]`` is block ``b``'s width."""

    def __init__(self, channels: Sequence[int], in_channels: int = 3, group_size: int = 4) -> None:
        super().__init__()
        widths = _check_widths("channels", channels)
        self.channels, self.in_channels, self.num_blocks = widths, in_channels, len(widths)
        self.from_rgb = nn.ModuleList(EqualizedConv2d(in_channels, w, 1) for w in widths)
        self.blocks = nn.ModuleList(
            _FinalBlock(widths[0], group_size) if b == 0 else _DownBlock(widths[b], widths[b - 1])
            for b in range(self.num_blocks)
        )

    def forward(self, x: Tensor, phase: int | None = None, alpha: float = 1.0) -> Tensor:
        return self._reduce(x, phase, alpha, lambda b, images: F.leaky_relu(self.from_rgb[b](images), 0.2))
