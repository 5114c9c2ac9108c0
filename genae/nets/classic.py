"""A classic, progressively grown convolutional decoder: the latent enters once, at the input.

This is the decoder of Balanced PIONEER (a PGGAN-style generator), which the automodulator paper calls
"classic" and compares against its AdaIN decoder (``genae.nets.progressive.ProgressiveStyleDecoder``).
Everything the latent says must flow through the 4×4 feature map; no later layer sees it, which is why
a classic decoder cannot mix styles per scale.

Layers are the style decoder's (equalised learning rate; plain 1×1 ``to_rgb``) with PGGAN's pixel norm in
place of AdaIN. Blocks follow the style decoder's indexing so the two are interchangeable in a recipe: block ``b``
works at ``4·2^b`` px, ``phase`` selects how many blocks run, ``alpha`` fades the newest one in.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor, nn
from torch.nn import functional as F

from genae.interfaces import Decoder
from genae.layers import EqualizedConv2d, EqualizedLinear


class PixelNorm(nn.Module):
    """Scale each pixel's feature vector to unit root-mean-square (PGGAN): keeps magnitudes from drifting."""

    def __init__(self, eps: float = 1e-8) -> None:
        super().__init__()
        self.eps = eps

    def forward(self, x: Tensor) -> Tensor:
        return x * torch.rsqrt(x.pow(2).mean(dim=1, keepdim=True) + self.eps)


def _conv_act(in_channels: int, out_channels: int) -> list[nn.Module]:
    return [EqualizedConv2d(in_channels, out_channels, 3, padding=1), nn.LeakyReLU(0.2), PixelNorm()]


class ClassicInput(nn.Module):
    """Block 0: the latent becomes a ``C×4×4`` map through one linear layer, then one 3×3 conv."""

    def __init__(self, latent_dim: int, channels: int) -> None:
        super().__init__()
        self.channels = channels
        self.project = EqualizedLinear(latent_dim, channels * 16)
        self.body = nn.Sequential(nn.LeakyReLU(0.2), PixelNorm(), *_conv_act(channels, channels))

    def forward(self, z: Tensor) -> Tensor:
        return self.body(self.project(z).view(z.shape[0], self.channels, 4, 4))


class ClassicUpBlock(nn.Module):
    """Blocks 1..n-1: nearest ×2 upsampling, then two 3×3 convs, each followed by LeakyReLU and PixelNorm."""

    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__()
        self.body = nn.Sequential(*_conv_act(in_channels, out_channels), *_conv_act(out_channels, out_channels))

    def forward(self, x: Tensor) -> Tensor:
        return self.body(F.interpolate(x, scale_factor=2.0, mode="nearest"))


class ProgressiveClassicDecoder(Decoder):
    """z → 4×4 map → ×2 blocks → image, with one 1×1 ``to_rgb`` per block for progressive growing.

    ``channels[b]`` is the width of block ``b`` (``b = 0`` is 4×4); the full resolution is
    ``4·2^(len(channels)−1)``. Outputs are not squashed (like the style decoder): ``model.decode`` clamps.
    """

    def __init__(self, latent_dim: int, channels: Sequence[int], out_channels: int = 3) -> None:
        super().__init__()
        if not isinstance(latent_dim, int) or latent_dim < 1:
            raise ValueError(f"latent_dim: expected a positive int, got {latent_dim!r}")
        widths = list(channels) if isinstance(channels, Sequence) and not isinstance(channels, str) else None
        if not widths or not all(isinstance(c, int) and c >= 1 for c in widths):
            raise ValueError(f"channels: expected a non-empty sequence of positive ints, got {channels!r}")
        if out_channels not in (1, 3):
            raise ValueError(f"out_channels: expected 1 or 3, got {out_channels!r}")
        self.latent_dim = latent_dim
        self.widths = widths
        blocks: list[nn.Module] = [ClassicInput(latent_dim, widths[0])]
        blocks += [ClassicUpBlock(widths[b - 1], widths[b]) for b in range(1, len(widths))]
        self.blocks = nn.ModuleList(blocks)
        self.to_rgb = nn.ModuleList(nn.Conv2d(width, out_channels, 1) for width in widths)

    @property
    def num_blocks(self) -> int:
        return len(self.blocks)

    @property
    def resolution(self) -> int:
        return 4 * 2 ** (self.num_blocks - 1)

    def style_affine_weights(self) -> list[list[Tensor]]:
        """The one linear map the latent enters through (the 4×4 projection), as a single slot: SeFa's input."""
        project = self.blocks[0].project
        return [[project.weight * project.scale]]

    def forward(self, z: Tensor, phase: int | None = None, alpha: float = 1.0) -> Tensor:
        """Decode at ``4·2^phase`` px (``None``: full resolution); ``alpha < 1`` fades block ``phase`` in."""
        if not isinstance(z, Tensor) or z.dim() != 2 or z.shape[1] != self.latent_dim:
            shape = tuple(z.shape) if isinstance(z, Tensor) else type(z).__name__
            raise ValueError(f"z: expected a tensor of shape (B, {self.latent_dim}), got {shape}")
        phase = self.num_blocks - 1 if phase is None else phase
        if not isinstance(phase, int) or not 0 <= phase < self.num_blocks:
            raise ValueError(f"phase: expected an int in [0, {self.num_blocks - 1}] or None, got {phase!r}")
        if not 0.0 <= float(alpha) <= 1.0:
            raise ValueError(f"alpha: expected a number in [0, 1], got {alpha!r}")
        x = z
        previous = x
        for block in self.blocks[: phase + 1]:
            previous, x = x, block(x)
        image = self.to_rgb[phase](x)
        if phase > 0 and alpha < 1.0:
            # The previous resolution's output, upsampled, is what the network produced before this block existed.
            faded = F.interpolate(self.to_rgb[phase - 1](previous), scale_factor=2.0, mode="nearest")
            image = alpha * image + (1.0 - alpha) * faded
        return image
