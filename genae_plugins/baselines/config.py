"""Configs of the baseline autoencoders (VAE, WAE, Balanced PIONEER).

Widths are per block from 4 px, as for the automodulator, so a baseline and an automodulator of the same
``channels`` have the same encoder and decoder sizes and their comparison measures the method alone.
"""

from __future__ import annotations

import dataclasses
from typing import Union

from genae.config import ModelConfig

DECODERS = ("classic", "adain")
Widths = Union[list[int], None]


def block_count(resolution: int) -> int:
    """Blocks from 4 px to ``resolution`` px (4, 8, ..., resolution)."""
    return resolution.bit_length() - 2


def default_widths(resolution: int) -> list[int]:
    """Halve 256 channels per doubling of resolution from 8 px on, never below 16: a CPU-sized default."""
    return [max(16, 256 >> max(0, b - 1)) for b in range(block_count(resolution))]


def _check_widths(name: str, widths: Widths, resolution: int) -> None:
    if widths is None:
        return
    blocks = block_count(resolution)
    if not isinstance(widths, list) or len(widths) != blocks or not all(
        isinstance(w, int) and not isinstance(w, bool) and w >= 1 for w in widths
    ):
        raise ValueError(
            f"{name} must be None or a list of {blocks} positive ints (one per block from 4 px to "
            f"{resolution} px), got {widths!r}"
        )


@dataclasses.dataclass
class PioneerConfig(ModelConfig):
    """Balanced PIONEER: a classic decoder, unit-sphere latents."""

    resolution: int = 32
    channels_in: int = 3
    latent_dim: int = 512
    channels: Widths = None  # decoder widths per block from 4 px; None: default_widths(resolution)
    encoder_channels: Widths = None  # None: the decoder's widths

    def validate(self) -> None:
        super().validate()
        _check_widths("channels", self.channels, self.resolution)
        _check_widths("encoder_channels", self.encoder_channels, self.resolution)

    @property
    def decoder_widths(self) -> list[int]:
        return list(self.channels) if self.channels is not None else default_widths(self.resolution)

    @property
    def encoder_widths(self) -> list[int]:
        return list(self.encoder_channels) if self.encoder_channels is not None else self.decoder_widths


@dataclasses.dataclass
class BaselineConfig(PioneerConfig):
    """VAE / WAE: the same encoder body, and either decoder."""

    decoder: str = "classic"  # "classic": z enters at the input; "adain": the automodulator's style decoder
    use_noise: bool = False  # per-pixel noise inputs of the AdaIN decoder (the classic decoder has none)

    def validate(self) -> None:
        super().validate()
        if self.decoder not in DECODERS:
            raise ValueError(f"decoder must be one of {DECODERS}, got {self.decoder!r}")
        if not isinstance(self.use_noise, bool):
            raise ValueError(f"use_noise must be a bool, got {self.use_noise!r}")
