"""LIA's networks around the shared style decoder: the w-encoder ``f`` and the flow-wrapped encoder/decoder.

The invertible network ``φ`` is one module, registered once on the model (``model.flow``). The encoder
(``x → φ(f(x))``) and the decoder (``z → g(φ⁻¹(z))``) use it without owning it, so the weights are stored
once and both keep genae's contract: encoders return prior-space latents, decoders take them.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor, nn
from torch.nn import functional as F

from genae.interfaces import Encoder, StyleDecoder
from genae.layers import NICEFlow
from genae.nets.progressive import ProgressiveStyleDecoder


class ResidualDown(nn.Module):
    """Pre-activation residual block (BatchNorm → ReLU → conv3×3, twice), then 2× average pooling."""

    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__()
        self.norm0 = nn.BatchNorm2d(in_channels)
        self.conv0 = nn.Conv2d(in_channels, out_channels, 3, padding=1, bias=False)
        self.norm1 = nn.BatchNorm2d(out_channels)
        self.conv1 = nn.Conv2d(out_channels, out_channels, 3, padding=1, bias=False)
        self.skip = nn.Conv2d(in_channels, out_channels, 1, bias=False) if in_channels != out_channels else None

    def forward(self, x: Tensor) -> Tensor:
        h = self.conv0(F.relu(self.norm0(x)))
        h = self.conv1(F.relu(self.norm1(h)))
        skip = x if self.skip is None else self.skip(x)
        return F.avg_pool2d(h + skip, 2)


class ResNetEncoder(nn.Module):
    """``f``: images → w. A conv stem at full resolution, one residual block per halving down to 4×4, then a
    dense layer. ``channels[b]`` is the width at ``4·2^b`` px (the stem's is ``channels[-1]``)."""

    def __init__(self, latent_dim: int, channels: Sequence[int], in_channels: int) -> None:
        super().__init__()
        widths = list(channels)
        self.stem = nn.Conv2d(in_channels, widths[-1], 3, padding=1)
        self.blocks = nn.Sequential(*(ResidualDown(widths[b], widths[b - 1]) for b in range(len(widths) - 1, 0, -1)))
        self.norm = nn.BatchNorm2d(widths[0])
        self.head = nn.Linear(widths[0] * 16, latent_dim)

    def forward(self, x: Tensor) -> Tensor:
        h = F.relu(self.norm(self.blocks(self.stem(x))))
        return self.head(h.flatten(1))


def _share(owner: nn.Module, flow: NICEFlow) -> None:
    # Stored past nn.Module.__setattr__ so it is not registered (and saved) a second time under ``owner``.
    owner.__dict__["flow"] = flow


class FlowEncoder(Encoder):
    """``x → z = φ(f(x))``; :meth:`encode_w` stops at ``w = f(x)``."""

    flow: NICEFlow

    def __init__(self, net: ResNetEncoder, flow: NICEFlow) -> None:
        super().__init__()
        self.net = net
        self.latent_dim = flow.dim
        _share(self, flow)

    def encode_w(self, x: Tensor) -> Tensor:
        return self.net(x)

    def forward(self, x: Tensor) -> Tensor:
        return self.flow(self.net(x))


class FlowStyleDecoder(StyleDecoder):
    """``z → g(φ⁻¹(z))`` with one ``z`` per style slot; :meth:`forward_w` takes ``w`` per slot directly."""

    flow: NICEFlow

    def __init__(self, synthesis: ProgressiveStyleDecoder, flow: NICEFlow) -> None:
        super().__init__()
        self.synthesis = synthesis
        self.latent_dim = flow.dim
        _share(self, flow)

    @property
    def num_styles(self) -> int:
        return self.synthesis.num_styles

    @property
    def style_ranges(self) -> dict[str, tuple[int, int]]:
        return self.synthesis.style_ranges

    def style_affine_weights(self) -> list[list[Tensor]]:
        """The synthesis' AdaIN affines: they read ``w``, LIA's style space (``LIA.style_space``)."""
        return self.synthesis.style_affine_weights()

    def forward_w(self, ws: Sequence[Tensor], phase: int | None = None, alpha: float = 1.0,
                  noise_generator: torch.Generator | None = None) -> Tensor:
        """The generator ``g`` on per-slot ``w`` (raw output, not clamped)."""
        return self.synthesis.forward_styles(ws, phase=phase, alpha=alpha, noise_generator=noise_generator)

    def forward_styles(self, styles: Sequence[Tensor], phase: int | None = None, alpha: float = 1.0,
                       noise_generator: torch.Generator | None = None) -> Tensor:
        self.synthesis._check_styles(styles)
        inverted: dict[int, Tensor] = {}  # mixing passes the same z to many slots: invert each tensor once
        for z in styles:
            if id(z) not in inverted:
                inverted[id(z)] = self.flow.inverse(z)
        ws = [inverted[id(z)] for z in styles]
        return self.forward_w(ws, phase=phase, alpha=alpha, noise_generator=noise_generator)
