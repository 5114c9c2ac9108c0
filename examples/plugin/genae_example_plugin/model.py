"""The model: config, encoder, decoder and the autoencoder that holds them with a prior."""

from __future__ import annotations

import dataclasses
import math

import torch
from torch import Tensor, nn

from genae.config import ModelConfig
from genae.interfaces import Decoder, Encoder, GenerativeAutoencoder
from genae.priors import GaussianPrior


@dataclasses.dataclass
class ExampleConfig(ModelConfig):
    """Inherits ``resolution`` (power of two), ``channels_in`` (1 or 3) and ``latent_dim``; adds ``width``."""

    resolution: int = 32
    channels_in: int = 1
    latent_dim: int = 16
    width: int = 32

    def validate(self) -> None:
        super().validate()
        if not isinstance(self.width, int) or self.width < 1:
            raise ValueError(f"width must be a positive int, got {self.width!r}")


def _halvings(config: ExampleConfig) -> int:
    return int(math.log2(config.resolution)) - 2  # down to 4x4


class ExampleEncoder(Encoder):
    """Strided convolutions down to 4x4, then a linear map to the latent."""

    def __init__(self, config: ExampleConfig) -> None:
        super().__init__()
        self.latent_dim = config.latent_dim  # required: check_model compares it with the config
        layers: list[nn.Module] = [nn.Conv2d(config.channels_in, config.width, 3, padding=1)]
        for _ in range(_halvings(config)):
            layers += [nn.LeakyReLU(0.2), nn.Conv2d(config.width, config.width, 4, stride=2, padding=1)]
        self.body = nn.Sequential(*layers, nn.Flatten(), nn.Linear(config.width * 16, config.latent_dim))

    def forward(self, x: Tensor) -> Tensor:
        return self.body(x)


class ExampleDecoder(Decoder):
    """A linear map to 4x4 features, then upsampling convolutions; tanh keeps images in [-1, 1]."""

    def __init__(self, config: ExampleConfig) -> None:
        super().__init__()
        self.latent_dim = config.latent_dim
        self.width = config.width
        self.start = nn.Linear(config.latent_dim, config.width * 16)
        blocks: list[nn.Module] = []
        for _ in range(_halvings(config)):
            blocks += [nn.Upsample(scale_factor=2.0), nn.Conv2d(config.width, config.width, 3, padding=1),
                       nn.LeakyReLU(0.2)]
        self.body = nn.Sequential(*blocks, nn.Conv2d(config.width, config.channels_in, 1))

    def forward(self, z: Tensor) -> Tensor:
        return torch.tanh(self.body(self.start(z).view(-1, self.width, 4, 4)))


class ExampleAutoencoder(GenerativeAutoencoder):
    config_class = ExampleConfig

    def __init__(self, config: ExampleConfig) -> None:
        super().__init__(config)
        self.encoder = ExampleEncoder(config)
        self.decoder = ExampleDecoder(config)
        self.prior = GaussianPrior(config.latent_dim)
