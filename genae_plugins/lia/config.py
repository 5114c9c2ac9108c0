"""LIA's config: image size, latent width, network widths and the invertible network's shape.

Widths are listed per block from 4 px upwards, as for every progressive network in genae. The default
(``None``) is StyleGAN-1's ``min(512, 16384 / resolution)`` (512 up to 32 px, then halving).
"""

from __future__ import annotations

import dataclasses
from typing import Union

from genae.config import ModelConfig
from genae.nets.progressive import num_blocks, resolution_of_phase

Widths = Union[list[int], str, None]
#: ``"compact"``: the bundled lia-fashion-mnist-32 generator's widths up to 32 px, then 16; the default of the
#: registered ``lia`` (trains in minutes on a CPU); ``lia-paper`` keeps StyleGAN-1's.
COMPACT_WIDTHS: tuple[int, ...] = (128, 64, 32, 16, 16, 16, 16, 16, 16)


def stylegan_widths(resolution: int) -> list[int]:
    """StyleGAN-1's feature-map widths per block from 4 px up to ``resolution``."""
    return [min(512, 16384 // resolution_of_phase(b)) for b in range(num_blocks(resolution))]


@dataclasses.dataclass
class LIAConfig(ModelConfig):
    """``channels``: generator widths; ``discriminator_channels`` and ``encoder_channels`` default to them.

    ``flow_steps`` additive couplings of hidden width ``flow_hidden`` (``None``: ``latent_dim``) with the
    dense layers' learning rate scaled by ``flow_lr_multiplier`` (LIA: 4 steps, 8 dense layers, 0.01).
    ``use_noise``: StyleGAN's per-pixel noise inputs (drawn in training mode only). ``mbstd_group``: the
    discriminator's minibatch-stddev group size.
    """

    resolution: int = 32
    channels_in: int = 3
    latent_dim: int = 512
    channels: Widths = None
    discriminator_channels: Widths = None
    encoder_channels: Widths = None
    flow_steps: int = 4
    flow_hidden: Union[int, None] = None
    flow_lr_multiplier: float = 0.01
    use_noise: bool = True
    mbstd_group: int = 4

    def __post_init__(self) -> None:
        for name in ("channels", "discriminator_channels", "encoder_channels"):
            if isinstance(getattr(self, name), tuple):
                setattr(self, name, list(getattr(self, name)))
        super().__post_init__()

    def widths(self, name: str) -> list[int]:
        """Resolved widths of ``channels``, ``discriminator_channels`` or ``encoder_channels``."""
        value = getattr(self, name)
        if value is None:
            value = self.channels if name != "channels" and self.channels is not None else stylegan_widths(self.resolution)
        n = num_blocks(self.resolution)
        if value == "compact":
            value = list(COMPACT_WIDTHS[:n])
        if not isinstance(value, list) or len(value) != n or not all(
            isinstance(w, int) and not isinstance(w, bool) and w >= 1 for w in value
        ):
            raise ValueError(f"{name}: expected None, \"compact\" or a list of {n} positive widths (one per block, 4 px to "
                             f"{self.resolution} px), got {value!r}")
        return list(value)

    def validate(self) -> None:
        super().validate()
        for name in ("channels", "discriminator_channels", "encoder_channels"):
            self.widths(name)
        if self.latent_dim < 2:
            raise ValueError(f"latent_dim: the invertible network splits the latent in two, so it needs >= 2, "
                             f"got {self.latent_dim}")
        for name in ("flow_steps", "mbstd_group"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ValueError(f"{name}: expected a positive int, got {value!r}")
        hidden = self.flow_hidden
        if hidden is not None and (not isinstance(hidden, int) or isinstance(hidden, bool) or hidden < 1):
            raise ValueError(f"flow_hidden: expected a positive int or None, got {hidden!r}")
        lr = self.flow_lr_multiplier
        if isinstance(lr, bool) or not isinstance(lr, (int, float)) or not lr > 0:
            raise ValueError(f"flow_lr_multiplier: expected a positive number, got {lr!r}")
        if not isinstance(self.use_noise, bool):
            raise ValueError(f"use_noise: expected a bool, got {self.use_noise!r}")
