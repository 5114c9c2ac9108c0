"""Training recipe of the automodulator: alternating encoder and decoder steps under progressive growing.

Per iteration (the authors' implementation, paper eq. 6; loss weights 0.1x the paper's):

- encoder step, decoder frozen: ``kl*KL(E(x)) + reconstruction*w_x*d(D(E(x)), x)
  + clamp(gap*(KL(E(x)) - KL(E(D(z)))), -M, M/2)`` where a quarter of the fakes ``D(z)`` are style-mixed
  and, once the newest block is faded in, pass through a history pool; ``w_x`` is 1 while fading and
  ``stable_boost`` after; optional flip-invariance terms (paper 3.3);
- decoder step, encoder frozen (gradients flow through it): ``fake_kl*KL(E(D(z_mix)))`` + a cosine latent
  round trip on the unmixed half + the layer-specific loss L_j on the half mixed at a random block j.

Every weight is an option; 0 switches a term off (and removes it from the log), so the paper's Table 1
ablation is ``layer_weight=0, reconstruction="l1"`` vs ``reconstruction="l1"`` vs the defaults.

One option is *not* the authors': ``decoder_reconstruction_weight`` (default 0) adds the pixel
reconstruction ``d(D(E(x)), x)`` to the decoder step, the encoder frozen. The authors' decoder learns only
through the encoder (latent round trip and KL game), which is sound but slow; on a CPU budget of minutes
the decoder then barely leaves its initial state. The bundled Fashion-MNIST model uses it and says so.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import torch
from torch import Tensor

from genae.interfaces import GenerativeAutoencoder
from genae.nets.progressive import num_blocks, resolution_of_phase
from genae.training.recipe import Phase, Recipe, StepContext
from genae.training.schedule import ProgressiveSchedule
from genae_plugins.automodulator.losses import (
    RECONSTRUCTION_KINDS,
    AutomodulatorLosses,
    LossWeights,
    make_reconstruction_loss,
    mixed_styles,
    style_influence,
)

# Schedules. "paper": the authors' (A.1 and their code) for large GPU runs. "small": sized for a
# Fashion-MNIST-like data set on a few CPU cores (a 32 px model grows in well under an hour).
PAPER_BATCH_SIZES = {4: 128, 8: 128, 16: 128, 32: 64, 64: 32, 128: 32, 256: 16, 512: 8, 1024: 4}
SMALL_BATCH_SIZES = {4: 64, 8: 64, 16: 32, 32: 32, 64: 16, 128: 16, 256: 8, 512: 4, 1024: 4}
SCHEDULE_PRESETS = {
    "paper": {"images_per_phase": 2_400_000, "fade_images": 1_200_000, "batch_sizes": PAPER_BATCH_SIZES},
    "small": {"images_per_phase": 20_000, "fade_images": 10_000, "batch_sizes": SMALL_BATCH_SIZES},
}


def _default_lr(resolution: int) -> float:
    return 5e-4 if resolution <= 32 else 1e-3


@dataclasses.dataclass(frozen=True)
class AutomodulatorOptions:
    """Every option of the recipe (JSON-able; unknown names are errors)."""

    reconstruction: str = "robust"  # "robust" (Barron, per-pixel learned), "l1" or "l2"
    kl_weight: float = 0.1
    gap_weight: float = 0.1
    margin: float | None = 0.5
    margin_from_phase: int = 2
    reconstruction_weight: float = 0.2
    stable_boost: float = 1.5
    fake_kl_weight: float = 0.1
    latent_weight: float | None = None  # None: 100 / latent_dim (the authors' mean over latent dimensions)
    layer_weight: float = 1.0
    decoder_reconstruction_weight: float = 0.0  # not in the paper: pixel loss for the decoder too (small budgets)
    mix_fraction: float = 0.5  # decoder step: share of prior samples mixed at a random block
    fake_mix_fraction: float = 0.25  # encoder step: share of fakes that are style-mixed
    pool_size: int = 200  # history of fakes once faded in; 0 disables
    invariance: bool = False  # flip-pair invariance (paper 3.3 / 4.3)
    invariance_weight: float | None = None  # None: the reconstruction weight
    invariance_split: int = 2  # blocks < split keep the image's own code (orientation), >= split the mirror's
    ema_decay: float = 0.999
    schedule: str = "small"
    images_per_phase: int | None = None  # None: from the schedule preset
    fade_images: int | None = None
    batch_sizes: dict[int, int] | int | None = None
    lr: float | None = None  # None: 5e-4 up to 32 px, 1e-3 above
    monitor_every: int = 100  # steps between per-block style-influence measurements; 0 disables
    monitor_images: int = 8

    def __post_init__(self) -> None:
        if self.reconstruction not in RECONSTRUCTION_KINDS:
            raise ValueError(f"reconstruction: expected one of {RECONSTRUCTION_KINDS}, got {self.reconstruction!r}")
        if self.schedule not in SCHEDULE_PRESETS:
            raise ValueError(f"schedule: expected one of {sorted(SCHEDULE_PRESETS)}, got {self.schedule!r}")
        for name in ("mix_fraction", "fake_mix_fraction"):
            value = getattr(self, name)
            if not isinstance(value, (int, float)) or not 0 <= value <= 1:
                raise ValueError(f"{name}: expected a number in [0, 1], got {value!r}")
        for name in ("pool_size", "monitor_every", "margin_from_phase"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 0:
                raise ValueError(f"{name}: expected a non-negative int, got {value!r}")
        if not isinstance(self.monitor_images, int) or self.monitor_images < 2:
            raise ValueError(f"monitor_images: expected an int >= 2, got {self.monitor_images!r}")
        if not isinstance(self.invariance_split, int) or self.invariance_split < 1:
            raise ValueError(f"invariance_split: expected an int >= 1, got {self.invariance_split!r}")
        if not 0 <= self.ema_decay < 1:
            raise ValueError(f"ema_decay: expected a number in [0, 1), got {self.ema_decay!r}")

    @classmethod
    def from_dict(cls, options: dict[str, Any]) -> AutomodulatorOptions:
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(options) - known)
        if unknown:
            raise ValueError(f"automodulator recipe: unknown option(s) {unknown}; valid options are {sorted(known)}")
        values = dict(options)
        if isinstance(values.get("batch_sizes"), dict):  # JSON turns int keys into strings
            values["batch_sizes"] = {int(k): int(v) for k, v in values["batch_sizes"].items()}
        return cls(**values)


class HistoryPool:
    """A bounded history of fakes (Shrivastava et al. 2017): the encoder also sees older decoder outputs.

    Until full, every fake is stored and returned. Then each fake, with probability 1/2, is swapped for a
    stored one (which is returned, the new fake taking its place). A new resolution empties the pool.
    """

    def __init__(self, size: int) -> None:
        self.size = size
        self.images: Tensor | None = None  # (count, C, H, W) on the fakes' device
        self.count = 0

    def query(self, fakes: Tensor, generator: torch.Generator) -> Tensor:
        if self.size == 0:
            return fakes
        if self.images is None or self.images.shape[1:] != fakes.shape[1:]:
            self.images = fakes.new_empty((self.size, *fakes.shape[1:]))
            self.count = 0
        self.images = self.images.to(fakes.device)
        out = fakes.clone()
        coins = torch.rand(fakes.shape[0], generator=generator, device=generator.device).tolist()
        slots = torch.randint(self.size, (fakes.shape[0],), generator=generator, device=generator.device).tolist()
        for i, (coin, slot) in enumerate(zip(coins, slots)):
            if self.count < self.size:
                self.images[self.count] = fakes[i]
                self.count += 1
            elif coin < 0.5:
                out[i] = self.images[slot]
                self.images[slot] = fakes[i]
        return out

    def state_dict(self) -> dict[str, Any]:
        images = None if self.images is None else self.images[: self.count].cpu().clone()
        return {"size": self.size, "count": self.count, "images": images}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        if state["size"] != self.size:
            raise ValueError(f"history pool: checkpoint has size {state['size']}, this recipe {self.size}")
        self.count = int(state["count"])
        stored = state["images"]
        if stored is None:
            self.images = None
            return
        self.images = stored.new_empty((self.size, *stored.shape[1:]))
        self.images[: self.count] = stored


class AutomodulatorRecipe(Recipe):
    """The automodulator's training algorithm; see the module docstring. Options: :class:`AutomodulatorOptions`.

    Growing needs no hook: the robust loss keeps its parameters at the final resolution, where each coarse
    pixel's value already fills the 2x2 block it covers (see ``AdaptiveRobustLoss``), and the history pool
    empties itself when it first sees fakes of a new resolution.
    """

    def __init__(self, model: GenerativeAutoencoder, **options: Any) -> None:
        super().__init__(model, **options)
        for name in ("encode_at", "decode_styles_at"):
            if not callable(getattr(model, name, None)):
                raise TypeError(f"model: the automodulator recipe needs {name}(); got {type(model).__name__}")
        self.opts = AutomodulatorOptions.from_dict(options)
        o = self.opts
        latent = 100.0 / model.latent_dim if o.latent_weight is None else o.latent_weight
        invariance = 0.0
        if o.invariance:
            invariance = o.reconstruction_weight if o.invariance_weight is None else o.invariance_weight
        self.weights = LossWeights(
            kl=o.kl_weight,
            gap=o.gap_weight,
            margin=o.margin,
            margin_from_phase=o.margin_from_phase,
            reconstruction=o.reconstruction_weight,
            stable_boost=o.stable_boost,
            invariance=invariance,
            fake_kl=o.fake_kl_weight,
            latent=latent,
            layer=o.layer_weight,
            decoder_reconstruction=o.decoder_reconstruction_weight,
        )
        self.reconstruction = make_reconstruction_loss(o.reconstruction, model.channels, model.resolution)
        self.losses = AutomodulatorLosses(model, self.weights, self.reconstruction, o.invariance_split)
        self.pool = HistoryPool(o.pool_size)
        # The latest style-influence measurement, logged at every step so that averages over a log window
        # are averages of measurements (it is recomputed every ``monitor_every`` steps).
        self.influence: dict[str, float] = {}

    # -- the Recipe protocol -------------------------------------------------------------------------
    def schedule(self) -> ProgressiveSchedule:
        o = self.opts
        preset = SCHEDULE_PRESETS[o.schedule]
        resolutions = [resolution_of_phase(p) for p in range(num_blocks(self.model.resolution))]
        batch_sizes = preset["batch_sizes"] if o.batch_sizes is None else o.batch_sizes
        if isinstance(batch_sizes, dict):  # presets cover every resolution; keep this model's
            batch_sizes = {r: size for r, size in batch_sizes.items() if r in resolutions}
        return ProgressiveSchedule(
            4,
            self.model.resolution,
            images_per_phase=preset["images_per_phase"] if o.images_per_phase is None else o.images_per_phase,
            fade_images=preset["fade_images"] if o.fade_images is None else o.fade_images,
            batch_sizes=batch_sizes,
            lrs={r: _default_lr(r) if o.lr is None else o.lr for r in resolutions},
        )

    def build_optimizers(self) -> dict[str, torch.optim.Optimizer]:
        def adam(parameters: list[torch.nn.Parameter]) -> torch.optim.Optimizer:
            return torch.optim.Adam(parameters, lr=_default_lr(4), betas=(0.0, 0.99), eps=1e-8)

        encoder_parameters = list(self.model.encoder.parameters())
        for module in self.owned_modules().values():  # the robust loss's shape/scale: the encoder's optimiser
            encoder_parameters += list(module.parameters())
        return {"encoder": adam(encoder_parameters), "decoder": adam(list(self.model.decoder.parameters()))}

    def ema_modules(self) -> dict[str, float]:
        return {"decoder": self.opts.ema_decay}

    def owned_modules(self) -> dict[str, torch.nn.Module]:
        if isinstance(self.reconstruction, torch.nn.Module):
            return {"reconstruction": self.reconstruction}
        return {}

    def preview(self, images: Tensor, latents: Tensor, phase: Phase) -> list[Tensor]:
        """Inputs, reconstructions, prior samples, and mixes: coarse half of the blocks from each input,
        the rest from the next input (its row above, shifted by one)."""
        p, a, n = phase.index, phase.alpha, self.model.decoder.num_styles
        codes = self.model.encode_at(images, p, a)
        split = max(1, self.losses.active_styles(phase) // 2)
        mixes = mixed_styles(codes, codes.roll(-1, dims=0), split, n)
        return [
            images,
            self.model.decode_styles_at([codes] * n, p, a).clamp(-1, 1),
            self.model.decode_styles_at([latents] * n, p, a).clamp(-1, 1),
            self.model.decode_styles_at(mixes, p, a).clamp(-1, 1),
        ]

    def train_step(self, images: Tensor, ctx: StepContext) -> dict[str, float]:
        phase, o = ctx.phase, self.opts
        if images.dim() != 4 or images.shape[-1] != phase.resolution or images.shape[-2] != phase.resolution:
            raise ValueError(
                f"images: expected (B, C, {phase.resolution}, {phase.resolution}) for phase {phase.index}, "
                f"got {tuple(images.shape)}"
            )
        if images.shape[0] < 2:
            raise ValueError("images: the batch statistics (KL) need at least 2 images per step")
        n = images.shape[0]
        log: dict[str, float] = {}

        fakes = None
        if self.weights.gap:
            fakes = self.losses.sample_fakes(n, round(n * o.fake_mix_fraction), phase, ctx.generator, ctx.device)
            if not phase.fading:
                fakes = self.pool.query(fakes, ctx.generator)
        with ctx.autocast():
            terms, stats = self.losses.encoder_terms(images, fakes, phase, ctx.generator)
        self._step(ctx, "encoder", terms, stats, log)

        with ctx.autocast():
            terms, stats = self.losses.decoder_terms(
                n, round(n * o.mix_fraction), phase, ctx.generator, ctx.device, images=images
            )
        self._step(ctx, "decoder", terms, stats, log)

        if isinstance(self.reconstruction, torch.nn.Module):
            log["robust/alpha_mean"] = float(self.reconstruction.alpha(phase.resolution).detach().mean())
            log["robust/scale_mean"] = float(self.reconstruction.scale(phase.resolution).detach().mean())
        if o.monitor_every and (ctx.step % o.monitor_every == 0 or len(self.influence) != self.losses.active_styles(phase) + 1):
            self.influence = style_influence(self.model, images[: o.monitor_images], phase)
        log.update({f"influence/{name}": value for name, value in self.influence.items()})
        return log

    @staticmethod
    def _step(
        ctx: StepContext, name: str, terms: dict[str, Tensor], stats: dict[str, float], log: dict[str, float]
    ) -> None:
        prefix = name[:3]
        if terms:
            total = sum(terms.values())
            ctx.optimize(name, total)  # type: ignore[arg-type]
            log[f"{prefix}/total"] = float(total.detach())
        log.update({f"{prefix}/{term}": float(value.detach()) for term, value in terms.items()})
        log.update({f"{prefix}/stat/{stat}": value for stat, value in stats.items()})

    def state_dict(self) -> dict[str, Any]:
        # The robust loss is an owned module: the trainer saves it.
        return {"pool": self.pool.state_dict(), "influence": dict(self.influence)}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.pool.load_state_dict(state["pool"])
        self.influence = dict(state["influence"])
