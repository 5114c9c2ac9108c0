"""StyleGAN2's residual discriminator (NVIDIA stylegan2-ada-pytorch's ``Discriminator``, 'resnet' architecture),
so a converted NVIDIA snapshot keeps its D for fine-tuning (PTI-style or transfer learning).

Module and tensor names follow NVIDIA's (``b{res}.fromrgb/conv0/conv1/skip``, epilogue ``b4.conv/fc/out``, label
``mapping``), so conversion is a renaming. A block: fromrgb (first block only) → conv0 → conv1 with FIR ×2
downsampling, plus a 1×1 downsampling skip; both branches × √½, summed. The epilogue appends the minibatch std,
convolves, and ends in two linear layers; with labels, the output is projected onto the labels' mapped
embedding and scaled by 1/√cmap_dim. Convolutions reuse the generator's FIR helpers.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import Tensor, nn
from torch.nn import functional as F

from genae.layers.minibatch_std import MinibatchStdDev
from genae_plugins.stylegan.generator import (
    SQRT2,
    EqualLinear,
    MappingNetwork,
    clamp_to,
    fir_kernel,
    upfirdn2d,
)

HALF_GAIN = math.sqrt(0.5)


class DiscriminatorConv(nn.Module):
    """Conv with run-time weight × 1/√fan_in, optional FIR ×2 downsampling, bias, lrelu·√2 (or linear),
    everything × ``gain``, then ``clamp`` × gain."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, bias: bool = True,
                 activate: bool = True, down: bool = False, clamp: float | None = None) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.randn(out_channels, in_channels, kernel_size, kernel_size))
        self.bias = nn.Parameter(torch.zeros(out_channels)) if bias else None
        self.scale = 1 / math.sqrt(in_channels * kernel_size**2)
        self.activate, self.down, self.clamp = activate, down, clamp
        if down:
            self.register_buffer("down_kernel", fir_kernel(1), persistent=False)

    def forward(self, x: Tensor, gain: float = 1.0) -> Tensor:
        weight = self.weight * self.scale
        size = weight.shape[-1]
        if self.down and size == 1:  # filter and subsample, then the 1×1 conv
            x = F.conv2d(upfirdn2d(x, self.down_kernel, pad=(1, 1), down=2), weight)
        elif self.down:  # filter, then a strided conv
            x = F.conv2d(upfirdn2d(x, self.down_kernel, pad=(2, 2)), weight, stride=2)
        else:
            x = F.conv2d(x, weight, padding=size // 2)
        if self.bias is not None:
            x = x + self.bias.view(1, -1, 1, 1)
        x = F.leaky_relu(x, 0.2) * (SQRT2 * gain) if self.activate else x * gain
        return clamp_to(x, None if self.clamp is None else self.clamp * gain)


class DiscriminatorBlock(nn.Module):
    """One resolution: (fromrgb) → conv0 → downsampling conv1, plus the downsampling 1×1 skip."""

    def __init__(self, channels: int, out_channels: int, image_channels: int, first: bool,
                 clamp: float | None) -> None:
        super().__init__()
        if first:
            self.fromrgb = DiscriminatorConv(image_channels, channels, 1, clamp=clamp)
        self.conv0 = DiscriminatorConv(channels, channels, 3, clamp=clamp)
        self.conv1 = DiscriminatorConv(channels, out_channels, 3, down=True, clamp=clamp)
        self.skip = DiscriminatorConv(channels, out_channels, 1, bias=False, activate=False, down=True)

    def forward(self, x: Tensor | None, image: Tensor) -> Tensor:
        if x is None:
            x = self.fromrgb(image)
        skip = self.skip(x, gain=HALF_GAIN)
        return skip + self.conv1(self.conv0(x), gain=HALF_GAIN)


class DiscriminatorEpilogue(nn.Module):
    """4×4: minibatch std → conv → linear (lrelu) → linear to one logit or a ``cmap_dim`` projection."""

    def __init__(self, channels: int, cmap_dim: int, group_size: int, clamp: float | None) -> None:
        super().__init__()
        self.cmap_dim = cmap_dim
        self.mbstd = MinibatchStdDev(group_size)
        self.conv = DiscriminatorConv(channels + 1, channels, 3, clamp=clamp)
        self.fc = EqualLinear(channels * 16, channels, activate=True)
        self.out = EqualLinear(channels, cmap_dim or 1)

    def forward(self, x: Tensor, cmap: Tensor | None) -> Tensor:
        x = self.out(self.fc(self.conv(self.mbstd(x)).flatten(1)))
        return x if cmap is None else (x * cmap).sum(dim=1, keepdim=True) * (1 / math.sqrt(self.cmap_dim))


class StyleGAN2Discriminator(nn.Module):
    """Images ``(B, C, R, R)`` (and labels for a conditional one) → logits ``(B, 1)``.

    ``widths``: channels at 4, 8, … R px; ``c_dim`` > 0 adds a label mapping of ``mapping_layers`` layers
    (hidden width ``mapping_dim``, embedding ``embed_dim``, lr multiplier ``mapping_lr``) to ``cmap_dim``.
    """

    def __init__(self, widths: Sequence[int], channels_in: int = 3, c_dim: int = 0, cmap_dim: int | None = None,
                 mapping_layers: int = 8, mapping_dim: int | None = None, embed_dim: int | None = None,
                 mapping_lr: float = 0.01, mbstd_group_size: int = 4, conv_clamp: float | None = None) -> None:
        super().__init__()
        widths = list(widths)
        if len(widths) < 2 or not all(isinstance(w, int) and not isinstance(w, bool) and w > 0 for w in widths):
            raise ValueError(f"discriminator widths: expected positive ints for 4, 8, … px, got {widths!r}")
        self.c_dim = c_dim
        self.resolutions = [4 * 2**i for i in range(len(widths))]
        for i in range(len(widths) - 1, 0, -1):
            self.add_module(f"b{self.resolutions[i]}", DiscriminatorBlock(
                widths[i], widths[i - 1], channels_in, first=i == len(widths) - 1, clamp=conv_clamp))
        cmap = (cmap_dim or widths[0]) if c_dim else 0
        if c_dim:
            self.mapping = MappingNetwork(cmap, mapping_layers, mapping_lr, z_dim=0, c_dim=c_dim, embed_dim=embed_dim,
                                          hidden_dim=mapping_dim)
        self.b4 = DiscriminatorEpilogue(widths[0], cmap, mbstd_group_size, conv_clamp)

    def forward(self, images: Tensor, c: Tensor | Sequence[int] | None = None) -> Tensor:
        x = None
        for resolution in self.resolutions[:0:-1]:
            x = self._modules[f"b{resolution}"](x, images)
        return self.b4(x, self.mapping(None, c) if self.c_dim else None)
