"""The smallest complete genae model: a reference for plugin authors and a fixture for generic tests.

Registered by nobody: tests and docs register it (``genae.register_model("toy", ToyAutoencoder)``).
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence

import torch
from torch import Tensor, nn

from genae.config import ModelConfig
from genae.interfaces import Encoder, GenerativeAutoencoder, StyleDecoder
from genae.priors import GaussianPrior


@dataclasses.dataclass
class ToyConfig(ModelConfig):
    resolution: int = 16
    channels_in: int = 1
    latent_dim: int = 8
    width: int = 16


class ToyEncoder(Encoder):
    def __init__(self, config: ToyConfig) -> None:
        super().__init__()
        self.latent_dim = config.latent_dim
        layers: list[nn.Module] = [nn.Conv2d(config.channels_in, config.width, 3, padding=1)]
        for _ in range(int(math.log2(config.resolution)) - 2):
            layers += [nn.LeakyReLU(0.2), nn.Conv2d(config.width, config.width, 4, stride=2, padding=1)]
        self.body = nn.Sequential(*layers, nn.Flatten(), nn.Linear(config.width * 16, config.latent_dim))

    def forward(self, x: Tensor) -> Tensor:
        return self.body(x)


class ToyStyleDecoder(StyleDecoder):
    """One block per resolution 4, 8, ...; each block's features are scaled and shifted by its style."""

    def __init__(self, config: ToyConfig) -> None:
        super().__init__()
        self.latent_dim = config.latent_dim
        self.blocks = int(math.log2(config.resolution)) - 1
        self.start = nn.Parameter(torch.randn(1, config.width, 4, 4) * 0.1)
        self.convs = nn.ModuleList(nn.Conv2d(config.width, config.width, 3, padding=1) for _ in range(self.blocks))
        self.styles = nn.ModuleList(nn.Linear(config.latent_dim, 2 * config.width) for _ in range(self.blocks))
        self.to_image = nn.Conv2d(config.width, config.channels_in, 1)

    @property
    def num_styles(self) -> int:
        return self.blocks

    def style_affine_weights(self) -> list[list[Tensor]]:
        """Per slot, the linear map reading its style (what SeFa factorises)."""
        return [[affine.weight] for affine in self.styles]

    def forward_styles(self, styles: Sequence[Tensor]) -> Tensor:
        if len(styles) != self.blocks:
            raise ValueError(f"styles: expected {self.blocks} latents, got {len(styles)}")
        x = self.start.expand(styles[0].shape[0], -1, -1, -1)
        for index, (conv, affine, z) in enumerate(zip(self.convs, self.styles, styles)):
            if index:
                x = nn.functional.interpolate(x, scale_factor=2.0, mode="nearest")
            scale, shift = affine(z)[:, :, None, None].chunk(2, dim=1)
            x = nn.functional.leaky_relu(conv(x), 0.2) * (1 + scale) + shift
        return torch.tanh(self.to_image(x))


class ToyAutoencoder(GenerativeAutoencoder):
    config_class = ToyConfig

    def __init__(self, config: ToyConfig) -> None:
        super().__init__(config)
        self.encoder = ToyEncoder(config)
        self.decoder = ToyStyleDecoder(config)
        self.prior = GaussianPrior(config.latent_dim)
