"""A small Recipe for :class:`~genae.testing.toy.ToyAutoencoder`: the reference for recipe authors and the
fixture of the trainer's tests (and of any test that needs a few real training steps).

Loss: L2 reconstruction of images from latents perturbed by ``latent_noise`` (drawn from the step's seeded
generator, so resuming must restore it) plus ``latent_weight`` times the mean squared latent. One Adam
optimiser named ``"model"``. With ``grow_images_per_phase > 0`` it declares a progressive schedule from
4px; the toy model is not progressive, so it trains on the phase's images upsampled to full size — enough
to exercise the trainer's growing machinery.
"""

from __future__ import annotations

import torch
from torch import Tensor

from genae.interfaces import GenerativeAutoencoder
from genae.training.recipe import Phase, Recipe, StepContext
from genae.training.schedule import ProgressiveSchedule, Schedule, SingleResolution

__all__ = ["ToyRecipe", "register_toy"]

TOY_NAME = "toy"


def register_toy(name: str = TOY_NAME) -> str:
    """Register ``ToyAutoencoder`` (with this recipe) as ``name`` unless it is already registered."""
    from genae.factory import register_model
    from genae.registry import REGISTRY

    model, recipe = "genae.testing.toy:ToyAutoencoder", "genae.testing.toy_recipe:ToyRecipe"
    if name not in REGISTRY.list_models():
        register_model(name, model, recipe=recipe, description="tiny style-based autoencoder for tests")
    elif (REGISTRY.model_spec(name).model, REGISTRY.model_spec(name).recipe) != (model, recipe):
        raise ValueError(f"register_toy: {name!r} is already registered as something else; pick another name")
    return name


class ToyRecipe(Recipe):
    def __init__(
        self,
        model: GenerativeAutoencoder,
        *,
        latent_weight: float = 1e-3,
        latent_noise: float = 0.05,
        ema_decay: float | None = 0.9,
        batch_size: int = 8,
        lr: float = 2e-3,
        grow_images_per_phase: int = 0,
    ) -> None:
        super().__init__(
            model,
            latent_weight=latent_weight,
            latent_noise=latent_noise,
            ema_decay=ema_decay,
            batch_size=batch_size,
            lr=lr,
            grow_images_per_phase=grow_images_per_phase,
        )
        for name, value in (("latent_weight", latent_weight), ("latent_noise", latent_noise)):
            if not isinstance(value, (int, float)) or value < 0:
                raise ValueError(f"{name}: expected a non-negative number, got {value!r}")
        if ema_decay is not None and not 0 <= ema_decay < 1:
            raise ValueError(f"ema_decay: expected a float in [0, 1) or None, got {ema_decay!r}")
        self.phases_started: list[Phase] = []  # what on_phase_start saw (tests read it)

    def build_optimizers(self) -> dict[str, torch.optim.Optimizer]:
        return {"model": torch.optim.Adam(self.model.parameters(), lr=self.options["lr"], betas=(0.5, 0.99))}

    def ema_modules(self) -> dict[str, float]:
        decay = self.options["ema_decay"]
        return {} if decay is None else {"decoder": decay}

    def schedule(self) -> Schedule:
        batch_size, lr = self.options["batch_size"], self.options["lr"]
        per_phase = self.options["grow_images_per_phase"]
        if not per_phase:
            return SingleResolution(self.model.resolution, batch_size, lr)
        return ProgressiveSchedule(
            4,
            self.model.resolution,
            images_per_phase=per_phase,
            fade_images=per_phase // 2,
            batch_sizes=batch_size,
            lrs=lr,
        )

    def on_phase_start(self, phase: Phase, ctx: StepContext) -> None:
        self.phases_started.append(phase)

    def train_step(self, images: Tensor, ctx: StepContext) -> dict[str, float]:
        full = self.model.resolution
        if images.shape[-1] != full:
            images = torch.nn.functional.interpolate(images, size=(full, full), mode="nearest")
        with ctx.autocast():
            z = self.model.encoder(images)
            noise = torch.randn(z.shape, generator=ctx.generator, device=ctx.device, dtype=z.dtype)
            reconstruction = self.model.decoder(z + self.options["latent_noise"] * noise)
            rec = (reconstruction.float() - images).pow(2).mean()
            latent = z.float().pow(2).mean()
        ctx.optimize("model", rec + self.options["latent_weight"] * latent)
        return {"reconstruction": rec.item(), "latent": latent.item()}
