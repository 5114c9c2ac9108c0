"""LIA, the latently invertible autoencoder (Zhu et al., IJCV 2022).

``z ~ N(0, I)`` → ``w = φ⁻¹(z)`` (NICE flow, ``model.flow``) → StyleGAN-1 synthesis ``g(w)`` (genae's shared
style decoder with a learned constant input and noise in every block). A BatchNorm ResNet ``f`` predicts
``w`` from an image, so ``encode(x) = φ(f(x))`` lands in the prior space and ``decode(z) = g(φ⁻¹(z))``: the
inherited ``encode``/``decode``/``sample``/``mix`` behave like every genae model's. ``model.discriminator``
(StyleGAN-1's) is part of the model because stage 2 fine-tunes the one stage 1 trained.

:meth:`style_space` is the same model seen in ``w``: encoder ``f``, decoder ``g``, prior ``φ⁻¹(N(0, I))``.
The generic tools that ask a model for its style space (``genae.invert``, so :meth:`refine`, and
``interpolate``) work there, where the paper does.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from genae.interfaces import Encoder, GenerativeAutoencoder
from genae.layers import NICEFlow
from genae.nets.discriminator import ProgressiveDiscriminator
from genae.nets.progressive import ProgressiveStyleDecoder
from genae.priors import FlowMappedPrior, GaussianPrior
from genae_plugins.lia.config import LIAConfig
from genae_plugins.lia.nets import FlowEncoder, FlowStyleDecoder, ResNetEncoder


class LIA(GenerativeAutoencoder):
    config_class = LIAConfig

    encoder: FlowEncoder
    decoder: FlowStyleDecoder
    prior: GaussianPrior

    def __init__(self, config: LIAConfig) -> None:
        super().__init__(config)
        self.flow = NICEFlow(config.latent_dim, steps=config.flow_steps, hidden=config.flow_hidden,
                             lr_multiplier=config.flow_lr_multiplier)
        net = ResNetEncoder(config.latent_dim, config.widths("encoder_channels"), config.channels_in)
        self.encoder = FlowEncoder(net, self.flow)
        synthesis = ProgressiveStyleDecoder(
            config.latent_dim, config.widths("channels"), out_channels=config.channels_in,
            use_noise=config.use_noise, learned_input=True, noise_in_first_block=True,
        )
        self.decoder = FlowStyleDecoder(synthesis, self.flow)
        self.discriminator = ProgressiveDiscriminator(
            config.widths("discriminator_channels"), in_channels=config.channels_in, group_size=config.mbstd_group
        )
        self.prior = GaussianPrior(config.latent_dim)

    def capabilities(self) -> dict[str, bool]:
        return {**super().capabilities(), "refine": True}

    # -- w-space ----------------------------------------------------------------------------------------
    def encode_w(self, x: Tensor) -> Tensor:
        """``w = f(x)``: the encoder's output before the flow."""
        self.check_images(x)
        return self.encoder.encode_w(x)

    def decode_w(self, w: Tensor) -> Tensor:
        """``g(w)`` with one ``w`` in every slot, clamped to ``[-1, 1]``."""
        self.check_latents(w, "w")
        return self.decoder.forward_w([w] * self.decoder.num_styles).clamp(-1, 1)

    @torch.no_grad()
    def mean_w(self, n: int = 10_000) -> Tensor:
        """The mean of ``φ⁻¹(z)`` over ``n`` seeded prior draws, ``(1, latent_dim)`` (inversion's usual start)."""
        z = self.prior.sample(n, generator=torch.Generator().manual_seed(0), device=self.device)
        return self.flow.inverse(z).mean(0, keepdim=True)

    def style_space(self) -> LIAWSpace:
        """This model seen in ``w``, what the generator's slots read (shares every module; nothing is copied)."""
        return LIAWSpace(self)

    def to_style_space(self, z: Tensor) -> Tensor:
        """``w = φ⁻¹(z)``."""
        return self.flow.inverse(z)

    def refine(self, x: Tensor, steps: int = 100, space: str = "w+", **options: Any) -> Any:
        """Encoder-initialised refinement (paper 6.3): optimise ``w`` (``space="w"``) or one ``w`` per layer
        (``"w+"``) from ``f(x)`` against the reconstruction loss, the generator frozen.

        It is :func:`genae.invert` with ``init="encoder"`` (which optimises in :meth:`style_space`); ``options``
        go to it (``loss``, ``lr``, ``generator``, ...). Returns its ``InversionResult``: ``reconstructions``,
        ``latents`` (``w`` per slot) and the loss per step.
        """
        from genae.inversion import invert

        return invert(self, x, "optimise", init="encoder", space=space, steps=steps, **options)


class _WEncoder(Encoder):
    def __init__(self, encoder: FlowEncoder) -> None:
        super().__init__()
        self.encoder = encoder
        self.latent_dim = encoder.latent_dim

    def forward(self, x: Tensor) -> Tensor:
        return self.encoder.encode_w(x)


class LIAWSpace(GenerativeAutoencoder):
    """A view of a :class:`LIA` whose latents are ``w``: ``encode = f``, ``decode = g``, prior ``φ⁻¹(N(0, I))``.

    It holds the LIA's own modules, so optimising, moving or freezing through the view acts on the model.
    """

    config_class = LIAConfig

    def __init__(self, model: LIA) -> None:
        if not isinstance(model, LIA):
            raise TypeError(f"model: expected a LIA, got {type(model).__name__}")
        super().__init__(model.config)
        self.architecture, self.plugin = model.architecture, model.plugin
        self.encoder = _WEncoder(model.encoder)
        self.decoder = model.decoder.synthesis
        self.prior = FlowMappedPrior(model.flow)
        self.mean_w = model.mean_w
        self.train(model.training)  # tools restore the view's mode when done; it must be the model's
