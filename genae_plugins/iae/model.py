"""IAE, flipped IAE and CycleIAE as genae models.

Each holds its encoder, decoder and prior; the discriminators of its GANs are described by the config and
built by :meth:`build_discriminators` for the recipe, which trains and checkpoints them but never ships them.
``encode``/``decode`` take optional ``noise=`` (standard-normal draws of the encoder's ε / decoder's n) and
are deterministic without it; ``sample`` draws both the code and the decoder noise from its generator, so
samples come from the full model p(x) = ∫ p(z) p(x | z, n) dn dz.
"""

from __future__ import annotations

import abc

import torch
from torch import Tensor, nn

from genae.interfaces import GenerativeAutoencoder, Prior
from genae.priors import GaussianPrior
from genae_plugins.iae.config import CycleIAEConfig, GANConfig, IAEConfig
from genae_plugins.iae.nets import CodeDiscriminator, ConvDecoder, ImageDiscriminator, MLPEncoder
from genae_plugins.iae.priors import CategoricalPrior, ImageBankPrior
from genae_plugins.iae.translators import TranslatorDecoder, TranslatorEncoder


def standard_normal(n: int, size: int, generator: torch.Generator | None, device: torch.device | str) -> Tensor:
    """Noise drawn on the generator's device then moved, so a seed gives the same draws on any device."""
    where = generator.device if generator is not None else torch.device("cpu")
    return torch.randn(n, size, generator=generator, device=where).to(device)


class ImplicitModel(GenerativeAutoencoder, abc.ABC):
    """What the three models share: noise-aware encode/decode/sample and their discriminators."""

    config_class = GANConfig
    config: GANConfig

    def encode(self, x: Tensor, noise: Tensor | None = None) -> Tensor:
        self.check_images(x)
        return self.encoder(x, noise=noise)

    def decode(self, z: Tensor, noise: Tensor | None = None) -> Tensor:
        self.check_latents(z)
        return self.decoder(z, noise=noise).clamp(-1, 1)

    def encoder_noise(self, n: int, generator: torch.Generator | None = None) -> Tensor | None:
        """Draws of ε for ``n`` images (None for a deterministic encoder)."""
        size = self.config.encoder_noise
        return standard_normal(n, size, generator, self.device) if size else None

    def decoder_noise(self, n: int, generator: torch.Generator | None = None) -> Tensor | None:
        """Draws of n for ``n`` codes (None for a deterministic decoder)."""
        size = self.config.decoder_noise
        return standard_normal(n, size, generator, self.device) if size else None

    def sample(self, n: int, generator: torch.Generator | None = None,
               device: torch.device | str | None = None) -> Tensor:
        if isinstance(n, bool) or not isinstance(n, int) or n < 1:
            raise ValueError(f"n: expected a positive int, got {n!r}")
        z = self.prior.sample(n, generator=generator, device=device or self.device).to(self.device)
        return self.decode(z, noise=self.decoder_noise(n, generator)).to(device or self.device)

    def stochastic_reconstruct(self, x: Tensor, generator: torch.Generator | None = None) -> Tensor:
        """One draw of the implicit posterior and of the implicit decoder (``reconstruct`` uses the modes)."""
        z = self.encode(x, noise=self.encoder_noise(x.shape[0], generator))
        return self.decode(z, noise=self.decoder_noise(x.shape[0], generator))

    @abc.abstractmethod
    def build_discriminators(self) -> nn.ModuleDict:
        """Fresh discriminators of this model's GANs, named by the GAN they serve."""


def _prior(config: IAEConfig) -> Prior:
    return CategoricalPrior(config.latent_dim) if config.code == "categorical" else GaussianPrior(config.latent_dim)


class IAE(ImplicitModel):
    """Implicit autoencoder (section 2): the four cases, clustering / semi-supervised and the AAE case."""

    config_class = IAEConfig
    config: IAEConfig
    encoder: MLPEncoder

    def __init__(self, config: IAEConfig) -> None:
        super().__init__(config)
        c = config
        self.encoder = MLPEncoder(self.image_shape, c.latent_dim, c.encoder_widths, c.encoder_noise,
                                  categorical=c.code == "categorical", logit_batch_norm=c.logit_batch_norm)
        self.decoder = ConvDecoder(c.latent_dim, c.channels_in, c.decoder_hidden, c.decoder_channels,
                                   c.decoder_start, c.decoder_noise)
        self.prior = _prior(c)

    @property
    def num_categories(self) -> int | None:
        """K for a categorical code (its argmax is the cluster / class), None for a continuous code."""
        return self.config.latent_dim if self.config.code == "categorical" else None

    def capabilities(self) -> dict[str, bool]:
        return {**super().capabilities(), "classify": self.num_categories is not None}

    def classify(self, x: Tensor) -> Tensor:
        """The most probable category of each image (categorical code only)."""
        if self.num_categories is None:
            raise TypeError("classify: this IAE has a continuous (gaussian) code; use a categorical one")
        return self.encode(x).argmax(dim=1)

    def build_discriminators(self) -> nn.ModuleDict:
        c = self.config
        nets = nn.ModuleDict()
        if c.reconstruction == "adversarial":
            nets["reconstruction"] = ImageDiscriminator(self.image_shape, c.disc_channels, c.disc_hidden,
                                                        c.conditioning, c.latent_dim, c.condition_hidden)
        if c.regularisation:
            nets["regularisation"] = CodeDiscriminator(c.latent_dim, c.code_disc_widths, c.code_disc_batch_mean)
        return nets


class FlippedIAE(IAE):
    """Flipped IAE (section 4): the generator is the decoder g(z, n), the recognition net the encoder q(z|x, ε).

    The regularisation GAN works on images (generated vs real: a GAN), the reconstruction GAN in code space:
    pairs (g(z, n), z) against (g(z, n), q(g(z, n), ε)). With a Euclidean code cost instead
    (``reconstruction="euclidean"``) it is InfoGAN. The nets are the IAE's.
    """

    def build_discriminators(self) -> nn.ModuleDict:
        c = self.config
        nets = nn.ModuleDict()
        nets["regularisation"] = ImageDiscriminator(self.image_shape, c.disc_channels, c.disc_hidden)
        if c.reconstruction == "adversarial":
            nets["reconstruction"] = ImageDiscriminator(self.image_shape, c.disc_channels, c.disc_hidden,
                                                        c.conditioning, c.latent_dim, c.condition_hidden)
        return nets


class CycleIAE(ImplicitModel):
    """CycleIAE (section 3): autoencodes domain A through a code that must look like a domain-B image.

    ``encode`` translates A → B (the code, flattened), ``decode`` translates B → A; with decoder noise the
    B → A translation is stochastic (many-to-many), as in the paper's edges ↔ shoes experiment.
    """

    config_class = CycleIAEConfig
    config: CycleIAEConfig
    prior: ImageBankPrior

    def __init__(self, config: CycleIAEConfig) -> None:
        super().__init__(config)
        c = config
        nets = (c.channels_in, c.channels_b, c.resolution, c.width, c.res_blocks)
        self.encoder = TranslatorEncoder(*nets, noise_size=c.encoder_noise)
        self.decoder = TranslatorDecoder(*nets, noise_size=c.decoder_noise)
        self.prior = ImageBankPrior(c.latent_dim, c.bank_size)

    @property
    def code_shape(self) -> tuple[int, int, int]:
        return (self.config.channels_b, self.resolution, self.resolution)

    def capabilities(self) -> dict[str, bool]:
        return {**super().capabilities(), "translate": True}

    def translate(self, x: Tensor, noise: Tensor | None = None) -> Tensor:
        """Domain-A images → domain-B images ``(B, channels_b, H, W)``."""
        return self.encode(x, noise=noise).view(-1, *self.code_shape)

    def build_discriminators(self) -> nn.ModuleDict:
        c = self.config
        code_image = (c.channels_b, c.resolution, c.resolution)
        return nn.ModuleDict({
            "regularisation": ImageDiscriminator(code_image, c.disc_channels, c.disc_hidden),
            "reconstruction": ImageDiscriminator(self.image_shape, c.disc_channels, c.disc_hidden, "image",
                                                 code_channels=c.channels_b),
        })
