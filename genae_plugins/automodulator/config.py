"""The automodulator's config: resolution, latent width and per-block channel widths.

Widths are listed per block from 4 px upwards. ``"large"`` and ``"small"`` are the authors' decoder presets
(their FFHQ/LSUN and CelebA-HQ models); they differ only from 64 px up, so at 32 px both are 512 wide.
The encoder preset is the authors' encoder, the same for both decoders. ``"compact"`` is genae's own: the
bundled ``automodulator-fashion-mnist-32``'s widths, the default of the registered names so that a fresh model
trains in minutes on a CPU (the ``-paper`` names keep the authors' widths).
"""

from __future__ import annotations

import dataclasses
from typing import Union

from genae.config import ModelConfig
from genae.nets.progressive import num_blocks

#: The authors' decoder widths per block, 4 px … 1024 px.
DECODER_PRESETS: dict[str, tuple[int, ...]] = {
    "large": (512, 512, 512, 512, 512, 256, 128, 64, 32),
    "small": (512, 512, 512, 512, 256, 128, 64, 32, 16),
}
#: The authors' encoder: width entering each block, 4 px … 1024 px (identical for both decoder presets).
ENCODER_PRESET: tuple[int, ...] = (512, 512, 512, 512, 256, 128, 64, 32, 16)
#: genae's compact widths (decoder, encoder): the bundled Fashion-MNIST model's up to 32 px, then 16.
COMPACT_DECODER: tuple[int, ...] = (128, 64, 32, 16, 16, 16, 16, 16, 16)
COMPACT_ENCODER: tuple[int, ...] = (64, 32, 16, 16, 16, 16, 16, 16, 16)

Widths = Union[str, list[int]]


@dataclasses.dataclass
class AutomodulatorConfig(ModelConfig):
    """``channels``: decoder widths (``"large"``, ``"small"``, ``"compact"`` or a list, one per block from 4 px).

    ``encoder_channels``: width entering each encoder block from 4 px (``None``, ``"large"`` or ``"small"``
    = the authors' encoder; ``"compact"``). ``encoder_final_channels``: width of the 4×4 block's first conv (``None`` = the
    4×4 block's width; converted official checkpoints may differ). ``use_noise``: per-pixel noise layers,
    active in training mode only. ``support_block``: insert the paper's extra same-resolution decoder block
    (section 4.3) after this resolution block (``1``: after the 8 px block, as the paper), giving the decoder
    one more style slot; ``None``: none (the authors' released models).
    """

    resolution: int = 32
    channels_in: int = 3
    latent_dim: int = 512
    channels: Widths = "small"
    encoder_channels: Union[Widths, None] = None
    encoder_final_channels: Union[int, None] = None
    use_noise: bool = True
    support_block: Union[int, None] = None

    def __post_init__(self) -> None:
        # Tuples become lists so the config equals itself after a JSON round trip.
        for name in ("channels", "encoder_channels"):
            if isinstance(getattr(self, name), tuple):
                setattr(self, name, list(getattr(self, name)))
        super().__post_init__()

    @property
    def num_blocks(self) -> int:
        return num_blocks(self.resolution)

    @property
    def decoder_widths(self) -> list[int]:
        return _resolve("channels", self.channels, {**DECODER_PRESETS, "compact": COMPACT_DECODER}, self.resolution)

    @property
    def encoder_widths(self) -> list[int]:
        spec = "small" if self.encoder_channels is None else self.encoder_channels
        presets = {**{name: ENCODER_PRESET for name in DECODER_PRESETS}, "compact": COMPACT_ENCODER}
        return _resolve("encoder_channels", spec, presets, self.resolution)

    def validate(self) -> None:
        super().validate()
        self.decoder_widths  # noqa: B018 - resolving raises a ValueError naming the field
        self.encoder_widths  # noqa: B018
        final = self.encoder_final_channels
        if final is not None and (not isinstance(final, int) or isinstance(final, bool) or final < 1):
            raise ValueError(f"encoder_final_channels: expected a positive int or None, got {final!r}")
        support = self.support_block
        if support is not None and (not isinstance(support, int) or isinstance(support, bool)
                                    or not 0 <= support < self.num_blocks):
            raise ValueError(f"support_block: expected None or a block index in [0, {self.num_blocks - 1}] "
                             f"(4 px to {self.resolution} px), got {support!r}")
        if not isinstance(self.use_noise, bool):
            raise ValueError(f"use_noise: expected a bool, got {self.use_noise!r}")


def _resolve(name: str, spec: object, presets: dict[str, tuple[int, ...]], resolution: int) -> list[int]:
    n = num_blocks(resolution)
    if isinstance(spec, str):
        if spec not in presets:
            raise ValueError(f"{name}: unknown preset {spec!r}; expected one of {sorted(presets)} or a list of "
                             f"{n} widths")
        if n > len(presets[spec]):
            raise ValueError(f"{name}: preset {spec!r} stops at 1024 px; give a list of {n} widths for "
                             f"{resolution} px")
        return list(presets[spec][:n])
    if not isinstance(spec, list) or len(spec) != n:
        raise ValueError(f"{name}: expected a preset name or a list of {n} widths (one per block, 4 px to "
                         f"{resolution} px), got {spec!r}")
    if not all(isinstance(w, int) and not isinstance(w, bool) and w >= 1 for w in spec):
        raise ValueError(f"{name}: every width must be a positive int, got {spec!r}")
    return list(spec)
