"""Training recipes of the VAE and WAE-MMD baselines: one joint step of encoder and decoder per batch.

Defaults are the automodulator paper's (appendix A.1): VAE KL weight 0.005, encoder lr 1e-4, decoder lr 5e-4;
WAE MMD weight 2 with the classic decoder and 4 with the AdaIN decoder, lr 2e-4 for both nets.
"""

from __future__ import annotations

import abc
from typing import Any

import torch
from torch import Tensor

from genae.losses import l1_loss, l2_loss
from genae.training.recipe import Recipe, StepContext
from genae.training.schedule import SingleResolution
from genae_plugins.baselines.losses import gaussian_kl, imq_mmd

RECONSTRUCTION = {"l1": l1_loss, "l2": l2_loss}


def _positive(name: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0:
        raise ValueError(f"recipe option {name}: expected a positive number, got {value!r}")
    return float(value)


def _non_negative(name: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not value >= 0:
        raise ValueError(f"recipe option {name}: expected a number >= 0, got {value!r}")
    return float(value)


class JointAutoencoderRecipe(Recipe):
    """Encoder and decoder minimise one loss together; each net has its own learning rate.

    Options: ``reconstruction`` ("l1" or "l2"; default "l2"), ``encoder_lr``, ``decoder_lr``, ``betas``
    (Adam; default (0.5, 0.999) as in the WAE paper), ``batch_size`` (default 64). No growing: the nets
    train at the model's resolution. The schedule's lr is the decoder's and the encoder's group carries
    ``lr_scale = encoder_lr / decoder_lr``, so a trainer ``lr`` override keeps the ratio.
    Subclasses add their divergence term in :meth:`losses`.
    """

    default_encoder_lr = 2e-4
    default_decoder_lr = 2e-4
    allowed_options: frozenset[str] = frozenset({"reconstruction", "encoder_lr", "decoder_lr", "betas", "batch_size"})

    def __init__(self, model: Any, **options: Any) -> None:
        super().__init__(model, **options)
        unknown = sorted(set(options) - self.allowed_options)
        if unknown:
            raise ValueError(
                f"{type(self).__name__}: unknown option(s) {unknown}; valid: {sorted(self.allowed_options)}"
            )
        reconstruction = options.get("reconstruction", "l2")
        if reconstruction not in RECONSTRUCTION:
            raise ValueError(f"recipe option reconstruction: expected one of {sorted(RECONSTRUCTION)}, got {reconstruction!r}")
        self.reconstruction = RECONSTRUCTION[reconstruction]
        self.encoder_lr = _positive("encoder_lr", options.get("encoder_lr", self.default_encoder_lr))
        self.decoder_lr = _positive("decoder_lr", options.get("decoder_lr", self.default_decoder_lr))
        betas = options.get("betas", (0.5, 0.999))
        if not (isinstance(betas, (list, tuple)) and len(betas) == 2 and all(0 <= float(b) < 1 for b in betas)):
            raise ValueError(f"recipe option betas: expected two numbers in [0, 1), got {betas!r}")
        self.betas = (float(betas[0]), float(betas[1]))
        batch_size = options.get("batch_size", 64)
        if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 2:
            raise ValueError(f"recipe option batch_size: expected an int >= 2, got {batch_size!r}")
        self.batch_size = batch_size

    def schedule(self) -> SingleResolution:
        return SingleResolution(self.model.resolution, self.batch_size, self.decoder_lr)

    def build_optimizers(self) -> dict[str, torch.optim.Optimizer]:
        # One optimiser, two parameter groups: a single backward pass serves both nets at their own rates.
        groups = [
            {"params": list(self.model.encoder.parameters()), "lr": self.encoder_lr, "name": "encoder",
             "lr_scale": self.encoder_lr / self.decoder_lr},
            {"params": list(self.model.decoder.parameters()), "lr": self.decoder_lr, "name": "decoder"},
        ]
        return {"autoencoder": torch.optim.Adam(groups, betas=self.betas)}

    @abc.abstractmethod
    def losses(self, images: Tensor, ctx: StepContext) -> dict[str, Tensor]:
        """Every unweighted loss term of one batch."""

    @abc.abstractmethod
    def weights(self) -> dict[str, float]:
        """The weight of each term returned by :meth:`losses`."""

    def train_step(self, images: Tensor, ctx: StepContext) -> dict[str, float]:
        with ctx.autocast():
            terms = self.losses(images, ctx)
            weights = self.weights()
            total = sum(weights[name] * value for name, value in terms.items())
        ctx.optimize("autoencoder", total)
        logged = {name: float(value.detach()) for name, value in terms.items()}
        logged["loss"] = float(total.detach())
        return logged


class VAERecipe(JointAutoencoderRecipe):
    """``reconstruction + kl_weight · KL(q(z|x) || N(0, I))`` with one reparameterised draw per image."""

    default_encoder_lr = 1e-4
    default_decoder_lr = 5e-4
    allowed_options = JointAutoencoderRecipe.allowed_options | {"kl_weight"}

    def __init__(self, model: Any, **options: Any) -> None:
        super().__init__(model, **options)
        if not hasattr(model.encoder, "encode_distribution"):
            raise TypeError(f"VAERecipe needs a Gaussian encoder with encode_distribution, got {type(model.encoder).__name__}")
        self.kl_weight = _non_negative("kl_weight", options.get("kl_weight", 0.005))

    def weights(self) -> dict[str, float]:
        return {"reconstruction": 1.0, "kl": self.kl_weight}

    def losses(self, images: Tensor, ctx: StepContext) -> dict[str, Tensor]:
        mean, logvar = self.model.encoder.encode_distribution(images)
        z = mean + (0.5 * logvar).exp() * ctx.randn_per_sample(mean)  # DDP draws what one process would
        return {
            "reconstruction": self.reconstruction(self.model.decoder(z), images),
            "kl": gaussian_kl(mean, logvar),
        }


class WAERecipe(JointAutoencoderRecipe):
    """WAE-MMD: ``reconstruction + mmd_weight · MMD(codes, prior draws)`` (IMQ kernel, several scales)."""

    allowed_options = JointAutoencoderRecipe.allowed_options | {"mmd_weight"}

    def __init__(self, model: Any, **options: Any) -> None:
        super().__init__(model, **options)
        default = 4.0 if getattr(model.config, "decoder", "classic") == "adain" else 2.0
        self.mmd_weight = _non_negative("mmd_weight", options.get("mmd_weight", default))

    def weights(self) -> dict[str, float]:
        return {"reconstruction": 1.0, "mmd": self.mmd_weight}

    def losses(self, images: Tensor, ctx: StepContext) -> dict[str, Tensor]:
        if images.shape[0] < 2:
            raise ValueError(f"WAERecipe: the MMD needs batches of at least 2 images, got {images.shape[0]}")
        codes = self.model.encoder(images)
        prior = self.model.prior.sample(images.shape[0], generator=ctx.generator, device=codes.device).to(codes)
        return {
            "reconstruction": self.reconstruction(self.model.decoder(codes), images),
            "mmd": imq_mmd(codes, prior),
        }
