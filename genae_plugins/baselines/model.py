"""The baseline autoencoders of the automodulator paper's Table 2a.

All share the automodulator's progressive encoder body (without spectral norm under a Gaussian prior, see
:func:`build_encoder_body`); "classic" and "AdaIN" variants differ only in the
decoder (:class:`~genae.nets.classic.ProgressiveClassicDecoder` or the automodulator's
:class:`~genae.nets.progressive.ProgressiveStyleDecoder`), so a comparison isolates the decoder design.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor, nn
from torch.nn.utils import parametrize

from genae.interfaces import Decoder, Encoder, GenerativeAutoencoder
from genae.nets.classic import ProgressiveClassicDecoder
from genae.nets.progressive import ProgressiveEncoder, ProgressiveStyleDecoder
from genae.priors import GaussianPrior, SpherePrior
from genae_plugins.baselines.config import BaselineConfig, PioneerConfig


class GaussianEncoder(Encoder):
    """A diagonal-Gaussian posterior q(z|x) on top of a deterministic body that outputs ``2·latent_dim`` numbers.

    ``forward`` returns the mean (so evaluation is reproducible) or, given ``noise`` (standard-normal
    draws of shape ``(B, latent_dim)``), the reparameterised sample ``mean + exp(logvar / 2)·noise``.
    """

    def __init__(self, body: ProgressiveEncoder, latent_dim: int) -> None:
        super().__init__()
        if body.latent_dim != 2 * latent_dim:
            raise ValueError(f"body: expected {2 * latent_dim} outputs (mean and log-variance), got {body.latent_dim}")
        self.body = body
        self.latent_dim = latent_dim

    def encode_distribution(self, x: Tensor, phase: int | None = None, alpha: float = 1.0) -> tuple[Tensor, Tensor]:
        """``(mean, logvar)`` of q(z|x), each ``(B, latent_dim)``."""
        mean, logvar = self.body(x, phase=phase, alpha=alpha).chunk(2, dim=1)
        return mean, logvar

    def forward(self, x: Tensor, noise: Tensor | None = None, phase: int | None = None, alpha: float = 1.0) -> Tensor:
        mean, logvar = self.encode_distribution(x, phase=phase, alpha=alpha)
        if noise is None:
            return mean
        if not isinstance(noise, Tensor) or noise.shape != mean.shape:
            shape = tuple(noise.shape) if isinstance(noise, Tensor) else type(noise).__name__
            raise ValueError(f"noise: expected standard-normal draws of shape {tuple(mean.shape)}, got {shape}")
        return mean + (0.5 * logvar).exp() * noise


def build_decoder(config: BaselineConfig | PioneerConfig, kind: str) -> Decoder:
    """The classic decoder or the automodulator's AdaIN decoder, at the config's widths."""
    if kind == "classic":
        return ProgressiveClassicDecoder(config.latent_dim, config.decoder_widths, out_channels=config.channels_in)
    return ProgressiveStyleDecoder(
        config.latent_dim, config.decoder_widths, out_channels=config.channels_in, use_noise=config.use_noise
    )


def build_encoder_body(config: PioneerConfig, outputs: int, normalize: bool, spectral_norm: bool) -> ProgressiveEncoder:
    """The automodulator's encoder; ``spectral_norm=False`` strips its spectral normalisation.

    Spectral norm serves the automodulator's (and PIONEER's) adversarial KL game on unit-length codes. Under
    a Gaussian prior it is harmful: it keeps every layer's gain at most 1, so codes start ~100× smaller than
    N(0, I) draws and stay there (measured here: a WAE's codes collapsed to norm 0.03 against the prior's 8,
    its MMD stuck at its maximum; a VAE's means drowned in unit posterior noise). Without it, the same convs
    keep their Kaiming initialisation and codes start at the prior's scale.
    """
    body = ProgressiveEncoder(
        outputs, config.encoder_widths, in_channels=config.channels_in, normalize=normalize,
        final_channels=config.encoder_final_channels,
    )
    if not spectral_norm:
        for module in body.modules():
            if parametrize.is_parametrized(module, "weight"):
                parametrize.remove_parametrizations(module, "weight", leave_parametrized=False)
    return body


def encoder_and_classic_decoder(encoder_body: nn.Module, decoder: nn.Module) -> dict[str, nn.Module]:
    """Compile targets of the baselines: the encoder body and a classic decoder, each one whole graph.

    The AdaIN decoder is left out: its noise comes from a ``torch.Generator``, which breaks the graph.
    """
    targets = {"encoder": encoder_body}
    if isinstance(decoder, ProgressiveClassicDecoder):
        targets["decoder"] = decoder
    return targets


class VAE(GenerativeAutoencoder):
    """Variational autoencoder: Gaussian posterior, N(0, I) prior (``vae``, ``vae-adain``)."""

    config_class = BaselineConfig
    encoder: GaussianEncoder

    def __init__(self, config: BaselineConfig) -> None:
        super().__init__(config)
        body = build_encoder_body(config, 2 * config.latent_dim, normalize=False, spectral_norm=False)
        self.encoder = GaussianEncoder(body, config.latent_dim)
        self.decoder = build_decoder(config, config.decoder)
        self.prior = GaussianPrior(config.latent_dim)

    def encode_distribution(self, x: Tensor) -> tuple[Tensor, Tensor]:
        """``(mean, logvar)`` of q(z|x) for images of this model's shape."""
        self.check_images(x)
        return self.encoder.encode_distribution(x)

    def compile_targets(self) -> dict[str, nn.Module]:
        return encoder_and_classic_decoder(self.encoder.body, self.decoder)


class WAE(GenerativeAutoencoder):
    """Wasserstein autoencoder (MMD): deterministic encoder, N(0, I) prior (``wae``, ``wae-adain``)."""

    config_class = BaselineConfig

    def __init__(self, config: BaselineConfig) -> None:
        super().__init__(config)
        self.encoder = build_encoder_body(config, config.latent_dim, normalize=False, spectral_norm=False)
        self.decoder = build_decoder(config, config.decoder)
        self.prior = GaussianPrior(config.latent_dim)

    def compile_targets(self) -> dict[str, nn.Module]:
        return encoder_and_classic_decoder(self.encoder, self.decoder)


class Pioneer(GenerativeAutoencoder):
    """Balanced PIONEER: the automodulator's encoder and training, a classic decoder, unit-sphere latents.

    ``encode_at``/``decode_styles_at`` are the phase-aware entry points the automodulator's recipe calls.
    A classic decoder has a single input, so ``decode_styles_at`` takes exactly one latent (one "slot").
    """

    config_class = PioneerConfig
    encoder: ProgressiveEncoder
    decoder: ProgressiveClassicDecoder

    def __init__(self, config: PioneerConfig) -> None:
        super().__init__(config)
        self.encoder = build_encoder_body(config, config.latent_dim, normalize=True, spectral_norm=True)
        self.decoder = build_decoder(config, "classic")
        self.prior = SpherePrior(config.latent_dim)

    def encode_at(self, x: Tensor, phase: int, alpha: float = 1.0) -> Tensor:
        """Encode images at ``4·2^phase`` px while block ``phase`` fades in by ``alpha``."""
        return self.encoder(x, phase=phase, alpha=alpha)

    def decode_at(self, z: Tensor, phase: int, alpha: float = 1.0) -> Tensor:
        """Raw (unclamped) decoder output at ``4·2^phase`` px."""
        return self.decoder(z, phase=phase, alpha=alpha)

    def decode_styles_at(self, styles: Sequence[Tensor], phase: int, alpha: float = 1.0,
                         noise_generator: torch.Generator | None = None) -> Tensor:
        """The automodulator recipe's decoding call; ``styles`` must hold one latent (the decoder's only input)."""
        if isinstance(styles, Tensor) or not isinstance(styles, Sequence) or len(styles) != 1:
            count = len(styles) if isinstance(styles, Sequence) and not isinstance(styles, Tensor) else type(styles).__name__
            raise ValueError(f"styles: a classic decoder takes exactly one latent (no style mixing), got {count}")
        return self.decode_at(styles[0], phase, alpha)
