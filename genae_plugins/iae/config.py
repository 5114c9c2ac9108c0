"""Configs of the implicit autoencoders (Makhzani, "Implicit Autoencoders").

One :class:`IAEConfig` spans the paper's four cases of section 2 (decoder noise size 0 or > 0, with or
without the regularisation GAN), its clustering / semi-supervised variant (``code="categorical"``) and the
AAE case used as a baseline (``reconstruction="euclidean"``). The discriminators are described here too, so a
config documents the whole model, but they are built by the recipe and never shipped with the weights.

Widths default to the paper's MNIST networks (Table 1) adapted to 32×32: the decoder starts from an 8×8
map instead of 7×7, so two stride-2 up-convolutions reach 32 px instead of 28, and ends in ``tanh``
(genae's images live in ``[-1, 1]``) instead of a sigmoid.
"""

from __future__ import annotations

import dataclasses

from genae.config import ModelConfig

CODES = ("gaussian", "categorical")
RECONSTRUCTIONS = ("adversarial", "euclidean")
CONDITIONINGS = ("location-dependent", "location-invariant")


def _widths(name: str, value: object, allow_empty: bool = False) -> None:
    if not isinstance(value, tuple) or (not value and not allow_empty) or not all(
        isinstance(v, int) and not isinstance(v, bool) and v >= 1 for v in value
    ):
        raise ValueError(f"{name}: expected a {'' if allow_empty else 'non-empty '}tuple of positive ints, got {value!r}")


def _size(name: str, value: object, minimum: int = 0) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ValueError(f"{name}: expected an int >= {minimum}, got {value!r}")


def _choice(name: str, value: object, choices: tuple[str, ...]) -> None:
    if value not in choices:
        raise ValueError(f"{name}: expected one of {choices}, got {value!r}")


@dataclasses.dataclass
class GANConfig(ModelConfig):
    """What every IAE-family config shares: noise sizes and the image discriminator's widths."""

    channels_in: int = 1
    encoder_noise: int = 0  # size of ε in z = f(x, ε); 0: deterministic encoder
    decoder_noise: int = 0  # size of n in x = g(z, n); 0: deterministic decoder
    disc_channels: tuple[int, ...] = (64, 128)  # stride-2 4×4 convs of the image discriminators
    disc_hidden: int = 1024  # their fully connected layer

    def validate(self) -> None:
        super().validate()
        _size("encoder_noise", self.encoder_noise)
        _size("decoder_noise", self.decoder_noise)
        _widths("disc_channels", self.disc_channels)
        _size("disc_hidden", self.disc_hidden, 1)
        if self.resolution >> len(self.disc_channels) < 1:
            raise ValueError(f"disc_channels: {len(self.disc_channels)} stride-2 convs do not fit {self.resolution} px")


@dataclasses.dataclass
class IAEConfig(GANConfig):
    """An IAE (``iae``) or, with the roles of the two nets swapped, a flipped IAE (``flipped-iae``).

    ``code``: ``"gaussian"`` (N(0, I) prior) or ``"categorical"`` (softmax encoder output, one-hot prior over
    ``latent_dim`` categories: clustering and semi-supervised learning). ``regularisation``: train the
    regularisation GAN that matches q(z) to the prior. ``reconstruction``: ``"adversarial"`` (the IAE's
    reconstruction GAN on (x, z) pairs) or ``"euclidean"`` (a squared-error cost: the AAE case; in the
    flipped IAE the code is what is reconstructed, which makes it InfoGAN).
    ``conditioning``: how the reconstruction discriminator sees z (appendix B.1).
    """

    latent_dim: int = 20
    code: str = "gaussian"
    regularisation: bool = True
    reconstruction: str = "adversarial"
    conditioning: str = "location-dependent"
    encoder_widths: tuple[int, ...] = (2000, 2000)  # fully connected hidden layers (Table 1)
    decoder_hidden: int = 1024  # first fully connected layer of the decoder
    decoder_channels: tuple[int, ...] = (128, 64)  # feature maps before each stride-2 up-convolution
    condition_hidden: int = 1000  # ReLU units of the location-dependent conditioning network
    code_disc_widths: tuple[int, ...] = (2000, 2000)  # regularisation discriminator (appendix B.1)
    code_disc_batch_mean: bool = False  # show it each batch's mean code too (not in the paper; see nets.py)
    logit_batch_norm: bool = False  # batch-normalise a categorical encoder's logits (not in the paper; nets.py)

    def validate(self) -> None:
        super().validate()
        _choice("code", self.code, CODES)
        _choice("reconstruction", self.reconstruction, RECONSTRUCTIONS)
        _choice("conditioning", self.conditioning, CONDITIONINGS)
        for flag in ("regularisation", "code_disc_batch_mean", "logit_batch_norm"):
            if not isinstance(getattr(self, flag), bool):
                raise ValueError(f"{flag}: expected a bool, got {getattr(self, flag)!r}")
        if self.logit_batch_norm and self.code != "categorical":
            raise ValueError("logit_batch_norm: only a categorical code has logits to normalise; set "
                             "code='categorical' or leave logit_batch_norm False")
        if self.code == "categorical" and self.latent_dim < 2:
            raise ValueError(f"latent_dim: a categorical code needs at least 2 categories, got {self.latent_dim}")
        _widths("encoder_widths", self.encoder_widths, allow_empty=True)
        _size("decoder_hidden", self.decoder_hidden, 1)
        _widths("decoder_channels", self.decoder_channels)
        _size("condition_hidden", self.condition_hidden, 1)
        _widths("code_disc_widths", self.code_disc_widths)
        start = self.resolution >> len(self.decoder_channels)
        if start < 2 or start << len(self.decoder_channels) != self.resolution:
            raise ValueError(
                f"decoder_channels: {len(self.decoder_channels)} up-convolutions cannot reach {self.resolution} px "
                "from a map of at least 2×2"
            )

    @property
    def decoder_start(self) -> int:
        """Side of the decoder's first feature map (8 for 32 px and two up-convolutions)."""
        return self.resolution >> len(self.decoder_channels)

    @property
    def case(self) -> str:
        """The paper's section-2 case this config is, in words (for cards and docs)."""
        decoder = "stochastic" if self.decoder_noise else "deterministic"
        regularised = "with" if self.regularisation else "without"
        kind = "AAE (Euclidean reconstruction)" if self.reconstruction == "euclidean" else "IAE"
        return f"{kind}: {decoder} decoder {regularised} regularisation GAN, {self.code} code"


@dataclasses.dataclass
class CycleIAEConfig(GANConfig):
    """A CycleIAE (section 3): autoencode domain A while domain B's distribution is imposed on the code.

    The code is a domain-B image of ``channels_b`` channels at the model's resolution, flattened, so
    ``latent_dim`` must equal ``channels_b · resolution²``. Encoder and decoder are small ResNet translators;
    noise enters every normalisation layer through conditional batch norm (appendix B.2). ``bank_size``
    domain-B images are kept as the prior (the empirical distribution of domain B the code is matched to).
    """

    latent_dim: int = 1024
    channels_b: int = 1
    decoder_noise: int = 16
    width: int = 32  # channels of the translators at full resolution (doubled at half resolution)
    res_blocks: int = 2
    bank_size: int = 64
    disc_channels: tuple[int, ...] = (32, 64)
    disc_hidden: int = 256

    def validate(self) -> None:
        super().validate()
        if self.channels_b not in (1, 3):
            raise ValueError(f"channels_b: expected 1 or 3, got {self.channels_b!r}")
        expected = self.channels_b * self.resolution**2
        if self.latent_dim != expected:
            raise ValueError(
                f"latent_dim: a CycleIAE's code is a {self.channels_b}×{self.resolution}×{self.resolution} image, "
                f"so latent_dim must be {expected}, got {self.latent_dim}"
            )
        _size("width", self.width, 1)
        _size("res_blocks", self.res_blocks, 0)
        _size("bank_size", self.bank_size, 1)
