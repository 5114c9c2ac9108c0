"""The StyleGAN2 model's config: generator shape (as rosinality's ``Generator``) and its inversion encoder."""

from __future__ import annotations

import dataclasses
from typing import Union

from genae.config import ModelConfig
from genae_plugins.stylegan.generator import default_widths

ENCODER_OUTPUTS = ("w", "w+")


@dataclasses.dataclass
class StyleGAN2Config(ModelConfig):
    """Defaults are rosinality's ``train.py`` (256 px, 512-d styles, 8 mapping layers, channel multiplier 2).

    ``channels``: one width per resolution from 4 px (``None``: StyleGAN2's table with ``channel_multiplier``).
    ``encoder_backbone``: any timm model name, built untrained with ``features_only=True``;
    ``encoder_output``: ``"w"`` (one w) or ``"w+"`` (a w plus one learned offset per slot, e4e-style).
    NVIDIA's generators may also differ in: ``z_dim`` (None: ``latent_dim``), ``mapping_dim`` (hidden width of
    the mapping; None: ``latent_dim``), ``c_dim`` (> 0: class-conditional, labels embedded to ``embed_dim``,
    None: ``latent_dim``) and ``conv_clamp`` (None: no clipping). ``discriminator``: the keyword arguments of a
    :class:`~genae_plugins.stylegan.discriminator.StyleGAN2Discriminator` kept with the model (a converted NVIDIA
    snapshot's D, for fine-tuning), or None.
    """

    resolution: int = 256
    channels_in: int = 3
    latent_dim: int = 512
    n_mlp: int = 8
    lr_mlp: float = 0.01
    channel_multiplier: int = 2
    channels: Union[list[int], None] = None
    encoder_backbone: str = "resnet18"
    encoder_output: str = "w+"
    z_dim: Union[int, None] = None
    mapping_dim: Union[int, None] = None
    c_dim: int = 0
    embed_dim: Union[int, None] = None
    conv_clamp: Union[float, None] = None
    discriminator: Union[dict, None] = None

    def __post_init__(self) -> None:
        if isinstance(self.channels, tuple):
            self.channels = list(self.channels)
        super().__post_init__()

    def validate(self) -> None:
        super().validate()
        if self.resolution < 8:
            raise ValueError(f"resolution must be at least 8 for StyleGAN2, got {self.resolution!r}")
        if not isinstance(self.n_mlp, int) or isinstance(self.n_mlp, bool) or self.n_mlp < 1:
            raise ValueError(f"n_mlp must be a positive int, got {self.n_mlp!r}")
        if not isinstance(self.lr_mlp, (int, float)) or not self.lr_mlp > 0:
            raise ValueError(f"lr_mlp must be a positive number, got {self.lr_mlp!r}")
        if self.channels is not None:
            blocks = self.resolution.bit_length() - 2
            if (not isinstance(self.channels, list) or len(self.channels) != blocks
                    or not all(isinstance(c, int) and not isinstance(c, bool) and c > 0 for c in self.channels)):
                raise ValueError(f"channels must be None or {blocks} positive ints (4 … {self.resolution} px), "
                                 f"got {self.channels!r}")
        else:
            default_widths(self.resolution, self.channel_multiplier)
        for name in ("z_dim", "mapping_dim", "embed_dim"):
            value = getattr(self, name)
            if value is not None and (not isinstance(value, int) or isinstance(value, bool) or value < 1):
                raise ValueError(f"{name} must be None or a positive int, got {value!r}")
        if not isinstance(self.c_dim, int) or isinstance(self.c_dim, bool) or self.c_dim < 0:
            raise ValueError(f"c_dim must be a non-negative int (0: unconditional), got {self.c_dim!r}")
        if self.conv_clamp is not None and (isinstance(self.conv_clamp, bool) or not isinstance(
                self.conv_clamp, (int, float)) or not 0 < self.conv_clamp < float("inf")):
            raise ValueError(f"conv_clamp must be None or a positive number, got {self.conv_clamp!r}")
        if self.encoder_output not in ENCODER_OUTPUTS:
            raise ValueError(f"encoder_output must be one of {ENCODER_OUTPUTS}, got {self.encoder_output!r}")
        if not isinstance(self.encoder_backbone, str) or not self.encoder_backbone:
            raise ValueError(f"encoder_backbone must be a timm model name, got {self.encoder_backbone!r}")

    @property
    def mapping_shape(self) -> dict[str, int | None]:
        """The mapping network's keyword arguments beyond width and depth."""
        return {"z_dim": self.z_dim, "c_dim": self.c_dim, "embed_dim": self.embed_dim, "hidden_dim": self.mapping_dim}

    @property
    def widths(self) -> list[int]:
        return list(self.channels) if self.channels is not None else default_widths(self.resolution,
                                                                                     self.channel_multiplier)
