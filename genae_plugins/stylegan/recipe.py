"""Training the learned inversion encoder of a ``stylegan2`` model for its frozen generator (pSp/e4e style).

Only ``model.encoder`` steps; the mapping, synthesis and ``w_avg`` stay as they are. Per batch of real
images: decode the encoder's per-slot latents (fixed noise maps, eval-mode decoder) and minimise
``pixel_weight·MSE + perceptual_weight·perceptual`` (any loss :func:`genae.inversion.make_loss` knows:
``"fashion-mnist-features"``, ``"lpips-vgg"`` where its weights exist), plus e4e's two W+ regularisers:
``delta_weight`` × the mean squared per-slot offset, and, with ``latent_adversarial_weight`` > 0, a
non-saturating latent discriminator (an MLP, trained beside the encoder with R1) that pushes every slot's
latent towards the generator's W (real samples: ``prior.sample``). ``progressive_every`` = k lets the
offsets in one slot per k steps (e4e's progressive training); ``None``: all slots from the start.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn
from torch.nn import functional as F

from genae.inversion import make_loss
from genae.training.recipe import Recipe, StepContext


class LatentDiscriminator(nn.Module):
    """MLP scoring a latent as coming from the mapping network (real) or from the encoder (fake)."""

    def __init__(self, latent_dim: int, width: int = 256, depth: int = 3) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        for i in range(depth):
            layers += [nn.Linear(latent_dim if i == 0 else width, width), nn.LeakyReLU(0.2)]
        self.net = nn.Sequential(*layers, nn.Linear(width, 1))

    def forward(self, w: Tensor) -> Tensor:
        return self.net(w).squeeze(-1)


def _non_negative(name: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
        raise ValueError(f"{name}: expected a non-negative number, got {value!r}")
    return float(value)


class InversionEncoderRecipe(Recipe):
    def __init__(self, model: Any, *, pixel_weight: float = 1.0, perceptual: str | None = None,
                 perceptual_weight: float = 1.0, delta_weight: float = 2e-4, latent_adversarial_weight: float = 0.0,
                 r1_weight: float = 10.0, progressive_every: int | None = None, lr: float = 1e-4,
                 batch_size: int = 16) -> None:
        super().__init__(model, pixel_weight=pixel_weight, perceptual=perceptual, perceptual_weight=perceptual_weight,
                         delta_weight=delta_weight, latent_adversarial_weight=latent_adversarial_weight,
                         r1_weight=r1_weight, progressive_every=progressive_every, lr=lr, batch_size=batch_size)
        if not hasattr(model, "encode_styles") or not hasattr(model.encoder, "active_offsets"):
            raise TypeError(f"model: expected a stylegan2 model with a learned inversion encoder, got "
                            f"{getattr(model, 'architecture', '') or type(model).__name__}")
        weights = {"mse": _non_negative("pixel_weight", pixel_weight)}
        if perceptual is not None:
            weights[perceptual] = _non_negative("perceptual_weight", perceptual_weight)
        self.image_loss = make_loss(weights, device=model.device)
        self.delta_weight = _non_negative("delta_weight", delta_weight)
        self.adversarial_weight = _non_negative("latent_adversarial_weight", latent_adversarial_weight)
        self.r1_weight = _non_negative("r1_weight", r1_weight)
        if progressive_every is not None and (isinstance(progressive_every, bool) or not isinstance(progressive_every, int)
                                              or progressive_every < 1):
            raise ValueError(f"progressive_every: expected a positive int or None, got {progressive_every!r}")
        self.progressive_every = progressive_every
        self.discriminator = LatentDiscriminator(model.latent_dim) if self.adversarial_weight > 0 else None
        self.lr, self.batch_size = lr, batch_size
        for part in (model.decoder, model.prior, getattr(model, "discriminator", None)):  # only the encoder trains
            if part is not None:
                part.requires_grad_(False)

    def owned_modules(self) -> dict[str, nn.Module]:
        return {"latent_discriminator": self.discriminator} if self.discriminator is not None else {}

    def build_optimizers(self) -> dict[str, torch.optim.Optimizer]:
        optimizers = {"encoder": torch.optim.Adam(self.model.encoder.parameters(), lr=self.lr)}
        if self.discriminator is not None:
            optimizers["latent_discriminator"] = torch.optim.Adam(self.discriminator.parameters(), lr=self.lr)
        return optimizers

    def schedule(self) -> Any:
        from genae.training.schedule import SingleResolution

        return SingleResolution(self.model.resolution, self.batch_size, self.lr)

    def train_step(self, images: Tensor, ctx: StepContext) -> dict[str, float]:
        model, decoder = self.model, self.model.decoder
        if self.progressive_every is not None:
            model.encoder.active_offsets.fill_(min(decoder.num_styles, 1 + ctx.step // self.progressive_every))
        decoder.eval()  # fixed noise maps: the encoder must explain the image, not the noise
        with ctx.autocast():
            latents = model.encoder.forward_styles(images)
            image_loss = self.image_loss(decoder.forward_styles(list(latents.unbind(1))), images).mean()
            delta = (latents - latents[:, :1]).square().sum(-1).mean()
            total = image_loss + self.delta_weight * delta
            terms = {"image": float(image_loss.detach()), "delta": float(delta.detach())}
            if self.discriminator is not None:
                fooling = F.softplus(-self.discriminator(latents.flatten(0, 1))).mean()
                total = total + self.adversarial_weight * fooling
                terms["latent_g"] = float(fooling.detach())
        ctx.optimize("encoder", total)
        if self.discriminator is not None:
            terms.update(self._discriminator_step(latents.detach().flatten(0, 1), ctx))
        return terms

    def _discriminator_step(self, fake: Tensor, ctx: StepContext) -> dict[str, float]:
        with torch.no_grad():
            real = self.model.prior.sample(fake.shape[0], generator=ctx.generator, device=fake.device)
        real.requires_grad_(True)
        real_score = self.discriminator(real)
        loss = F.softplus(-real_score).mean() + F.softplus(self.discriminator(fake)).mean()
        (gradient,) = torch.autograd.grad(real_score.sum(), real, create_graph=True)
        r1 = gradient.square().sum(-1).mean()
        ctx.optimize("latent_discriminator", loss + 0.5 * self.r1_weight * r1)
        return {"latent_d": float(loss.detach()), "r1": float(r1.detach())}
