"""Configs of the baseline autoencoders (VAE, WAE, Balanced PIONEER).

They extend the automodulator's config, so widths mean the same thing (presets ``"small"``/``"large"`` or
one width per block from 4 px) and a baseline and an automodulator of equal ``channels`` have encoders and
decoders of equal size: the comparison then measures the method, not the network.
"""

from __future__ import annotations

import dataclasses

from genae_plugins.automodulator.config import AutomodulatorConfig

DECODERS = ("classic", "adain")


@dataclasses.dataclass
class PioneerConfig(AutomodulatorConfig):
    """Balanced PIONEER: the automodulator's encoder, a classic decoder (which has no noise inputs)."""

    use_noise: bool = False

    def validate(self) -> None:
        super().validate()
        if self.use_noise:
            raise ValueError("use_noise: the classic decoder has no noise inputs; leave it False")


@dataclasses.dataclass
class BaselineConfig(AutomodulatorConfig):
    """VAE / WAE: one encoder body, and the ``decoder`` named here."""

    decoder: str = "classic"  # "classic": z enters at the input; "adain": the automodulator's style decoder
    use_noise: bool = False  # per-pixel noise inputs; only the AdaIN decoder has them (vae-adain sets True)

    def validate(self) -> None:
        super().validate()
        if self.decoder not in DECODERS:
            raise ValueError(f"decoder: expected one of {DECODERS}, got {self.decoder!r}")
        if self.use_noise and self.decoder != "adain":
            raise ValueError("use_noise: only the 'adain' decoder has noise inputs; leave it False for 'classic'")
