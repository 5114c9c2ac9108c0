"""Training: a plain reconstruction autoencoder with a small latent penalty, so `genae train example-ae` works."""

from __future__ import annotations

import torch
from torch import Tensor

from genae.interfaces import GenerativeAutoencoder
from genae.training import Recipe, StepContext


class ExampleRecipe(Recipe):
    def __init__(self, model: GenerativeAutoencoder, *, lr: float = 1e-3, latent_weight: float = 1e-3) -> None:
        super().__init__(model, lr=lr, latent_weight=latent_weight)

    def build_optimizers(self) -> dict[str, torch.optim.Optimizer]:
        return {"model": torch.optim.Adam(self.model.parameters(), lr=self.options["lr"])}

    def train_step(self, images: Tensor, ctx: StepContext) -> dict[str, float]:
        with ctx.autocast():
            z = self.model.encoder(images)
            reconstruction = (self.model.decoder(z) - images).square().mean()
            latent = z.square().mean()
            total = reconstruction + self.options["latent_weight"] * latent
        ctx.optimize("model", total)
        return {"reconstruction": reconstruction.item(), "latent": latent.item(), "total": total.item()}
