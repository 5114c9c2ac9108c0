"""LIA's two-stage training on the shared Trainer; ``stage`` (1 or 2) is a recipe option.

Stage 1 (decoder: a GAN). ``z ~ N(0, I)`` → ``φ⁻¹`` → StyleGAN-1 synthesis, style mixing with probability
0.9 (a random crossover slot among the active ones), progressive growing, StyleGAN-1 discriminator; the
non-saturating logistic loss, R1 (γ = 10) on reals; Adam(0, 0.99), lr 1e-3; EMA of generator and flow.

Stage 2 (encoder). Generator and flow frozen (the EMA weights stage 1 exported; eval mode, so no noise).
The encoder ``f`` predicts ``w`` and minimises pixel MSE + β₁·perceptual MSE + β₂·non-saturating
adversarial term (β₁ = 5e-5 with VGG-16 conv4_3, β₂ = 0.1); the stage-1 discriminator is fine-tuned on
reals vs reconstructions (logistic + R1 γ = 10); one encoder step then one discriminator step;
Adam(0.9, 0.99), lr 1e-4. Stage 2 starts from a stage-1 model: ``genae train lia --stage 2 --init RUN/model
...``.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Union

import torch
from torch import Tensor

from genae.losses import discriminator_logistic_loss, generator_logistic_loss, l2_loss, r1_penalty
from genae.nets.progressive import num_blocks, resolution_of_phase
from genae.training.recipe import Phase, Recipe, StepContext
from genae.training.schedule import ProgressiveSchedule, Schedule, SingleResolution
from genae_plugins.lia.model import LIA
from genae_plugins.lia.perceptual import DEFAULT_WEIGHTS, build_perceptual

STAGE_LR = {1: 1e-3, 2: 1e-4}
STAGE_BETAS = {1: (0.0, 0.99), 2: (0.9, 0.99)}
DEFAULT_BATCH_SIZE = 32


@dataclasses.dataclass(frozen=True)
class LIAOptions:
    """Every option of the recipe (JSON-able; unknown names are errors)."""

    stage: int = 1
    batch_size: Union[int, dict[int, int]] = DEFAULT_BATCH_SIZE  # stage 1 may give one per resolution
    lr: Union[float, None] = None  # None: 1e-3 (stage 1), 1e-4 (stage 2)
    r1_gamma: float = 10.0
    # stage 1
    style_mixing: float = 0.9
    ema_decay: float = 0.999
    grow: bool = True
    images_per_phase: int = 20_000
    fade_images: int = 10_000
    # stage 2
    perceptual: Union[str, None] = "vgg16"  # "vgg16", "fashion-mnist" or None (no perceptual term)
    perceptual_weight: Union[float, None] = None  # None: the network's default (vgg16: 5e-5)
    adversarial_weight: float = 0.1
    weights_dir: Union[str, None] = None  # where to look for the VGG-16 file besides the torch hub cache

    def __post_init__(self) -> None:
        if self.stage not in (1, 2):
            raise ValueError(f"stage: expected 1 (decoder GAN) or 2 (encoder), got {self.stage!r}")
        for name in ("r1_gamma", "adversarial_weight"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
                raise ValueError(f"{name}: expected a number >= 0, got {value!r}")
        if not 0 <= self.style_mixing <= 1:
            raise ValueError(f"style_mixing: expected a probability in [0, 1], got {self.style_mixing!r}")
        if not 0 <= self.ema_decay < 1:
            raise ValueError(f"ema_decay: expected a number in [0, 1), got {self.ema_decay!r}")
        if self.perceptual is not None and self.perceptual not in DEFAULT_WEIGHTS:
            raise ValueError(f"perceptual: expected one of {sorted(DEFAULT_WEIGHTS)} or null, got {self.perceptual!r}")
        if self.stage == 2 and isinstance(self.batch_size, dict):
            raise ValueError("batch_size: stage 2 trains at one resolution; give one int")

    @classmethod
    def from_dict(cls, options: dict[str, Any]) -> LIAOptions:
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(options) - known)
        if unknown:
            raise ValueError(f"lia recipe: unknown option(s) {unknown}; valid options are {sorted(known)}")
        return cls(**options)


def block_of(phase: Phase) -> int:
    """The networks' phase argument (highest active block) for the schedule's phase, growing or not."""
    return num_blocks(phase.resolution) - 1


class LIARecipe(Recipe):
    """See the module docstring; options: :class:`LIAOptions`."""

    model: LIA

    def __init__(self, model: LIA, **options: Any) -> None:
        super().__init__(model, **options)
        if not isinstance(model, LIA):
            raise TypeError(f"model: the lia recipe trains LIA models, got {type(model).__name__}")
        self.opts = LIAOptions.from_dict(options)
        self.perceptual: torch.nn.Module | None = None
        self.perceptual_weight = 0.0
        if self.opts.stage == 2:
            if not str(model.card.get("recipe", "")).endswith(":LIARecipe"):  # subclasses (ablations) too
                raise ValueError(
                    "stage 2 trains the encoder of a trained LIA generator, but this model has no LIA training "
                    "record: train stage 1 first, then start stage 2 from its output, e.g. "
                    "`genae train lia --stage 2 --init RUN/model ...`"
                )
            model.decoder.requires_grad_(False)
            model.flow.requires_grad_(False)
            if self.opts.perceptual is not None:
                self.perceptual = build_perceptual(self.opts.perceptual, weights_dir=self.opts.weights_dir)
                weight = self.opts.perceptual_weight
                self.perceptual_weight = DEFAULT_WEIGHTS[self.opts.perceptual] if weight is None else float(weight)

    # -- the Recipe protocol -------------------------------------------------------------------------
    def schedule(self) -> Schedule:
        o, resolution = self.opts, self.model.resolution
        lr = STAGE_LR[o.stage] if o.lr is None else o.lr
        if o.stage == 1 and o.grow:
            resolutions = [resolution_of_phase(p) for p in range(num_blocks(resolution))]
            batch = o.batch_size if isinstance(o.batch_size, int) else {int(k): v for k, v in o.batch_size.items()}
            return ProgressiveSchedule(4, resolution, images_per_phase=o.images_per_phase, fade_images=o.fade_images,
                                       batch_sizes=batch, lrs=dict.fromkeys(resolutions, lr))
        if not isinstance(o.batch_size, int):
            raise ValueError("batch_size: without growing, give one int")
        return SingleResolution(resolution, o.batch_size, lr)

    def build_optimizers(self) -> dict[str, torch.optim.Optimizer]:
        betas = STAGE_BETAS[self.opts.stage]

        def adam(parameters: list[torch.nn.Parameter]) -> torch.optim.Optimizer:
            return torch.optim.Adam(parameters, lr=STAGE_LR[self.opts.stage], betas=betas, eps=1e-8)

        m = self.model
        trained = [*m.decoder.parameters(), *m.flow.parameters()] if self.opts.stage == 1 else list(m.encoder.parameters())
        name = "generator" if self.opts.stage == 1 else "encoder"
        return {name: adam(trained), "discriminator": adam(list(m.discriminator.parameters()))}

    def ema_modules(self) -> dict[str, float]:
        return {"decoder": self.opts.ema_decay, "flow": self.opts.ema_decay} if self.opts.stage == 1 else {}

    def preview(self, images: Tensor, latents: Tensor, phase: Phase) -> list[Tensor]:
        if self.opts.stage == 2:
            return super().preview(images, latents, phase)
        decoder, p, a = self.model.decoder, block_of(phase), phase.alpha
        n = decoder.num_styles
        coarse = max(1, decoder.synthesis.active_styles(p) // 2)
        mixes = [latents if slot < coarse else latents.roll(1, 0) for slot in range(n)]
        return [images, decoder.forward_styles([latents] * n, p, a).clamp(-1, 1),
                decoder.forward_styles(mixes, p, a).clamp(-1, 1)]

    def train_step(self, images: Tensor, ctx: StepContext) -> dict[str, float]:
        if images.dim() != 4 or images.shape[0] < 2 or images.shape[-1] != ctx.phase.resolution:
            raise ValueError(f"images: expected a batch of at least 2 images at {ctx.phase.resolution} px, "
                             f"got {tuple(images.shape)}")
        if self.opts.stage == 1:
            return self._generator_step(images, ctx)
        return self._encoder_step(images, ctx)

    # -- stage 1 -------------------------------------------------------------------------------------------
    def generate(self, n: int, ctx: StepContext) -> Tensor:
        """``n`` fakes at the phase's resolution; with probability ``style_mixing`` each mixes two ``w``."""
        m, phase, generator = self.model, ctx.phase, ctx.generator
        slots = m.decoder.num_styles
        active = m.decoder.synthesis.active_styles(block_of(phase))
        w1 = m.flow.inverse(m.prior.sample(n, generator=generator, device=ctx.device))
        ws = [w1] * slots
        if active > 1 and self.opts.style_mixing > 0:
            w2 = m.flow.inverse(m.prior.sample(n, generator=generator, device=ctx.device))
            mixing = torch.rand(n, generator=generator, device=generator.device) < self.opts.style_mixing
            cut = torch.randint(1, active, (n,), generator=generator, device=generator.device)
            cut = torch.where(mixing, cut, slots).to(ctx.device)
            ws = [torch.where((slot < cut)[:, None], w1, w2) for slot in range(slots)]
        return m.decoder.forward_w(ws, block_of(phase), phase.alpha, noise_generator=generator)

    def _discriminator_step(self, reals: Tensor, fakes: Tensor, ctx: StepContext, log: dict[str, float]) -> None:
        d, p, a = self.model.discriminator, block_of(ctx.phase), ctx.phase.alpha
        reals = reals.detach().requires_grad_(self.opts.r1_gamma > 0)
        with ctx.autocast():
            real_logits = d(reals, p, a)
            fake_logits = d(fakes.detach(), p, a)
        loss = discriminator_logistic_loss(real_logits, fake_logits)
        log["dis/logistic"] = float(loss.detach())
        if self.opts.r1_gamma > 0:
            r1 = r1_penalty(real_logits, reals)
            loss = loss + 0.5 * self.opts.r1_gamma * r1
            log["dis/r1"] = float(r1.detach())
        ctx.optimize("discriminator", loss)
        log["dis/real_logit"] = float(real_logits.detach().float().mean())
        log["dis/fake_logit"] = float(fake_logits.detach().float().mean())

    def _generator_step(self, images: Tensor, ctx: StepContext) -> dict[str, float]:
        log: dict[str, float] = {}
        n, d = images.shape[0], self.model.discriminator
        with torch.no_grad(), ctx.autocast():
            fakes = self.generate(n, ctx)
        self._discriminator_step(images, fakes, ctx, log)
        d.requires_grad_(False)
        try:
            with ctx.autocast():
                loss = generator_logistic_loss(d(self.generate(n, ctx), block_of(ctx.phase), ctx.phase.alpha))
            ctx.optimize("generator", loss)
        finally:
            d.requires_grad_(True)
        log["gen/logistic"] = float(loss.detach())
        return log

    # -- stage 2 -------------------------------------------------------------------------------------------
    def predict_w(self, images: Tensor) -> Tensor:
        """The encoder's ``w`` for the batch: ``f(x)`` (a subclass may route it elsewhere, e.g. an ablation)."""
        return self.model.encoder.encode_w(images)

    def encoder_terms(self, images: Tensor, ctx: StepContext) -> tuple[dict[str, Tensor], Tensor]:
        """Unweighted stage-2 terms for a batch, and the raw reconstructions."""
        m = self.model
        m.decoder.eval()  # frozen generator: fixed (no) noise
        with ctx.autocast():
            w = self.predict_w(images)
            recon = m.decoder.forward_w([w] * m.decoder.num_styles)
            terms = {"pixel": l2_loss(recon, images)}
            if self.perceptual is not None:
                self.perceptual.to(images.device)
                with torch.no_grad():
                    target = self.perceptual(images)
                terms["perceptual"] = l2_loss(self.perceptual(recon), target)
            if self.opts.adversarial_weight > 0:
                terms["adversarial"] = generator_logistic_loss(m.discriminator(recon))
        return terms, recon

    def _encoder_step(self, images: Tensor, ctx: StepContext) -> dict[str, float]:
        d = self.model.discriminator
        weights = {"pixel": 1.0, "perceptual": self.perceptual_weight, "adversarial": self.opts.adversarial_weight}
        d.requires_grad_(False)
        try:
            terms, recon = self.encoder_terms(images, ctx)
            total = sum(weights[name] * value for name, value in terms.items())
            ctx.optimize("encoder", total)  # type: ignore[arg-type]
        finally:
            d.requires_grad_(True)
        log = {f"enc/{name}": float(value.detach()) for name, value in terms.items()}
        log["enc/total"] = float(total.detach())  # type: ignore[union-attr]
        if self.opts.adversarial_weight > 0:
            self._discriminator_step(images, recon, ctx, log)
        return log
