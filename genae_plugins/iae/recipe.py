"""Training recipes of the IAE family: one discriminator step, then one generator step, per batch.

Every GAN is the non-saturating one (discriminator: softplus cross-entropy; generator: ``-log D`` on its
fakes). As in appendix B.1, the reconstruction GAN back-propagates into the generator through the
*negatives only*: the positive pair's code is detached. Defaults: Adam (0.5, 0.999), lr 2e-4 for both
sides, batch 64. Discriminators live in the recipe (checkpointed, not exported).
"""

from __future__ import annotations

import abc
from typing import Any

import torch
from torch import Tensor
from torch.nn import functional as F

from genae.losses import l2_loss
from genae.metrics.clustering import labelled_subset
from genae.training.recipe import Recipe, StepContext
from genae.training.schedule import SingleResolution
from genae_plugins.iae.data import domain_images
from genae_plugins.iae.model import IAE, CycleIAE, FlippedIAE, ImplicitModel


def discriminator_loss(real: Tensor, fake: Tensor) -> Tensor:
    """``-log D(real) - log(1 - D(fake))`` from logits, averaged (float32 under autocast)."""
    return F.softplus(-real.float()).mean() + F.softplus(fake.float()).mean()


def generator_loss(fake: Tensor) -> Tensor:
    """Non-saturating generator loss ``-log D(fake)`` from logits."""
    return F.softplus(-fake.float()).mean()


def _number(name: str, value: Any, minimum: float = 0.0, strict: bool = False) -> float:
    ok = isinstance(value, (int, float)) and not isinstance(value, bool) and (
        value > minimum if strict else value >= minimum)
    if not ok:
        raise ValueError(f"recipe option {name}: expected a number {'>' if strict else '>='} {minimum}, got {value!r}")
    return float(value)


def _count(name: str, value: Any, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ValueError(f"recipe option {name}: expected an int >= {minimum}, got {value!r}")
    return value


class ImplicitRecipe(Recipe):
    """The loop shared by the family; subclasses say what the GANs compare (:meth:`discriminator_terms`,
    :meth:`generator_terms`) from one forward pass (:meth:`forward`).

    Options: ``lr`` (generator side), ``disc_lr``, ``betas``, ``batch_size``, ``reconstruction_weight`` and
    ``regularisation_weight`` (1.0), and each subclass's own. The schedule's lr is the generator's; the
    discriminators' group scales it by ``disc_lr / lr``.
    """

    model_class: type[ImplicitModel] = ImplicitModel
    extra_options: frozenset[str] = frozenset()

    def __init__(self, model: Any, **options: Any) -> None:
        if not isinstance(model, self.model_class):
            raise TypeError(f"{type(self).__name__} trains a {self.model_class.__name__}, got {type(model).__name__}")
        super().__init__(model, **options)
        allowed = {"lr", "disc_lr", "betas", "batch_size", "reconstruction_weight", "regularisation_weight"}
        allowed |= self.extra_options
        unknown = sorted(set(options) - allowed)
        if unknown:
            raise ValueError(f"{type(self).__name__}: unknown option(s) {unknown}; valid: {sorted(allowed)}")
        self.lr = _number("lr", options.get("lr", 2e-4), strict=True)
        self.disc_lr = _number("disc_lr", options.get("disc_lr", self.lr), strict=True)
        betas = options.get("betas", (0.5, 0.999))
        if not (isinstance(betas, (list, tuple)) and len(betas) == 2 and all(0 <= float(b) < 1 for b in betas)):
            raise ValueError(f"recipe option betas: expected two numbers in [0, 1), got {betas!r}")
        self.betas = (float(betas[0]), float(betas[1]))
        self.batch_size = _count("batch_size", options.get("batch_size", 64), 2)
        self.discriminators = model.build_discriminators()
        self.term_weights = {
            "reconstruction": _number("reconstruction_weight", options.get("reconstruction_weight", 1.0)),
            "regularisation": _number("regularisation_weight", options.get("regularisation_weight", 1.0)),
        }

    def schedule(self) -> SingleResolution:
        return SingleResolution(self.model.resolution, self.batch_size, self.lr)

    def owned_modules(self) -> dict[str, torch.nn.Module]:
        return {"discriminators": self.discriminators}

    def build_optimizers(self) -> dict[str, torch.optim.Optimizer]:
        generator = [*self.model.encoder.parameters(), *self.model.decoder.parameters()]
        group = {"params": list(self.discriminators.parameters()), "lr": self.disc_lr,
                 "lr_scale": self.disc_lr / self.lr}
        return {"generator": torch.optim.Adam(generator, lr=self.lr, betas=self.betas),
                "discriminator": torch.optim.Adam([group], betas=self.betas)}

    @abc.abstractmethod
    def forward(self, images: Tensor, ctx: StepContext) -> dict[str, Tensor]:
        """The tensors both steps need (with their graphs), e.g. codes and reconstructions."""

    @abc.abstractmethod
    def discriminator_terms(self, images: Tensor, out: dict[str, Tensor], ctx: StepContext) -> dict[str, Tensor]:
        """Each discriminator's loss on detached fakes."""

    @abc.abstractmethod
    def generator_terms(self, images: Tensor, out: dict[str, Tensor], ctx: StepContext) -> dict[str, Tensor]:
        """Each unweighted term the encoder and decoder minimise."""

    def weights(self) -> dict[str, float]:
        """Weight of each generator term (discriminator terms are summed unweighted)."""
        return self.term_weights

    def autoencode(self, images: Tensor, ctx: StepContext) -> dict[str, Tensor]:
        """Codes ẑ = f(x, ε) and reconstructions x̂ = g(ẑ, n), with fresh noise draws from the run's generator."""
        n = images.shape[0]
        codes = self.model.encoder(images, noise=self.model.encoder_noise(n, ctx.generator))
        decoded = self.model.decoder(codes, noise=self.model.decoder_noise(n, ctx.generator))
        return {"codes": codes, "decoded": decoded}

    def train_step(self, images: Tensor, ctx: StepContext) -> dict[str, float]:
        logged: dict[str, float] = {}
        with ctx.autocast():
            out = self.forward(images, ctx)
            d_terms = self.discriminator_terms(images, out, ctx)
        if d_terms:
            ctx.optimize("discriminator", sum(d_terms.values()))  # type: ignore[arg-type]
        with ctx.autocast():
            g_terms = self.generator_terms(images, out, ctx)
            weights = self.weights()
            total = sum(weights.get(name, 1.0) * value for name, value in g_terms.items())
        ctx.optimize("generator", total)  # type: ignore[arg-type]
        logged.update({f"d_{name}": float(v.detach()) for name, v in d_terms.items()})
        logged.update({name: float(v.detach()) for name, v in g_terms.items()})
        logged["loss"] = float(total.detach())  # type: ignore[union-attr]
        return logged

    def _prior(self, n: int, ctx: StepContext) -> Tensor:
        return self.model.prior.sample(n, generator=ctx.generator, device=ctx.device)


class IAERecipe(ImplicitRecipe):
    """IAE / AAE / clustering / semi-supervised training; which GANs run is the model config's choice.

    Extra options: ``reconstruction_weight``, ``regularisation_weight`` (1.0), ``pixel_weight`` (0.0: an
    optional squared-error term added to the adversarial reconstruction; not in the paper), and for the
    semi-supervised IAE ``labels`` (0: none; e.g. 100), ``label_seed`` (0), ``label_data``
    ("fashion-mnist"), ``label_batch`` (32) and ``supervised_weight`` (1.0): a fixed, seeded,
    class-balanced labelled subset of ``label_data``'s training split, recorded on the model's card.
    """

    model_class = IAE
    extra_options = frozenset({"pixel_weight", "labels", "label_seed", "label_data", "label_batch",
                               "supervised_weight"})
    model: IAE

    def __init__(self, model: Any, **options: Any) -> None:
        super().__init__(model, **options)
        self.term_weights["pixel"] = _number("pixel_weight", options.get("pixel_weight", 0.0))
        self.term_weights["supervised"] = _number("supervised_weight", options.get("supervised_weight", 1.0))
        self.label_count = _count("labels", options.get("labels", 0), 0)
        self.label_batch = _count("label_batch", options.get("label_batch", 32), 1)
        self.labelled: dict[str, Any] | None = None
        if self.label_count:
            if model.num_categories is None:
                raise ValueError("recipe option labels: semi-supervised training needs a categorical code "
                                 "(config code='categorical', latent_dim = number of classes)")
            self.labelled = labelled_subset(str(options.get("label_data", "fashion-mnist")), self.label_count,
                                            _count("label_seed", options.get("label_seed", 0), 0),
                                            model.resolution, model.channels)
            model.card["labelled_subset"] = self.labelled["record"]

    def forward(self, images: Tensor, ctx: StepContext) -> dict[str, Tensor]:
        return self.autoencode(images, ctx)

    def discriminator_terms(self, images: Tensor, out: dict[str, Tensor], ctx: StepContext) -> dict[str, Tensor]:
        codes, decoded = out["codes"].detach(), out["decoded"].detach()
        terms = {}
        if "reconstruction" in self.discriminators:
            d = self.discriminators["reconstruction"]
            terms["reconstruction"] = discriminator_loss(d(images, codes), d(decoded, codes))
        if "regularisation" in self.discriminators:
            d = self.discriminators["regularisation"]
            terms["regularisation"] = discriminator_loss(d(self._prior(len(codes), ctx).to(codes)), d(codes))
        return terms

    def generator_terms(self, images: Tensor, out: dict[str, Tensor], ctx: StepContext) -> dict[str, Tensor]:
        codes, decoded = out["codes"], out["decoded"]
        if "reconstruction" in self.discriminators:
            terms = {"reconstruction": generator_loss(self.discriminators["reconstruction"](decoded, codes))}
            if self.term_weights["pixel"]:
                terms["pixel"] = l2_loss(decoded, images)
        else:
            terms = {"reconstruction": l2_loss(decoded, images)}
        if "regularisation" in self.discriminators:
            terms["regularisation"] = generator_loss(self.discriminators["regularisation"](codes))
        if self.labelled is not None:
            terms["supervised"] = self._supervised(ctx)
        return terms

    def _supervised(self, ctx: StepContext) -> Tensor:
        """Cross-entropy of the encoder's categories on a labelled mini-batch drawn from the fixed subset."""
        assert self.labelled is not None
        picks = torch.randint(len(self.labelled["labels"]), (self.label_batch,), generator=ctx.generator,
                              device=ctx.generator.device).cpu()
        images = self.labelled["images"][picks].to(ctx.device)
        labels = self.labelled["labels"][picks].to(ctx.device)
        noise = self.model.encoder_noise(len(picks), ctx.generator)
        return F.cross_entropy(self.model.encoder.logits(images, noise).float(), labels)


class FlippedIAERecipe(ImplicitRecipe):
    """Flipped IAE: a GAN on images regularises the generator; the code is reconstructed adversarially
    (pairs (x̃, z) vs (x̃, ẑ), negatives only) or, with ``reconstruction="euclidean"``, by squared error
    (InfoGAN)."""

    model_class = FlippedIAE
    model: FlippedIAE

    def forward(self, images: Tensor, ctx: StepContext) -> dict[str, Tensor]:
        n = images.shape[0]
        codes = self._prior(n, ctx).to(images)
        generated = self.model.decoder(codes, noise=self.model.decoder_noise(n, ctx.generator))
        inferred = self.model.encoder(generated, noise=self.model.encoder_noise(n, ctx.generator))
        return {"codes": codes, "generated": generated, "inferred": inferred}

    def discriminator_terms(self, images: Tensor, out: dict[str, Tensor], ctx: StepContext) -> dict[str, Tensor]:
        generated, codes, inferred = out["generated"].detach(), out["codes"], out["inferred"].detach()
        d = self.discriminators["regularisation"]
        terms = {"regularisation": discriminator_loss(d(images), d(generated))}
        if "reconstruction" in self.discriminators:
            d = self.discriminators["reconstruction"]
            terms["reconstruction"] = discriminator_loss(d(generated, codes), d(generated, inferred))
        return terms

    def generator_terms(self, images: Tensor, out: dict[str, Tensor], ctx: StepContext) -> dict[str, Tensor]:
        generated, codes, inferred = out["generated"], out["codes"], out["inferred"]
        terms = {"regularisation": generator_loss(self.discriminators["regularisation"](generated))}
        if "reconstruction" in self.discriminators:
            terms["reconstruction"] = generator_loss(self.discriminators["reconstruction"](generated, inferred))
        else:
            terms["reconstruction"] = l2_loss(inferred, codes)
        return terms


class CycleIAERecipe(ImplicitRecipe):
    """CycleIAE: the trainer streams domain A; domain B is named by the ``domain_b`` option (see
    :func:`~genae_plugins.iae.data.domain_images`) and never paired with A. The regularisation GAN makes
    codes look like domain-B images; the reconstruction GAN matches (a, code) against (â, code).
    Extra options: ``domain_b`` (required), ``pixel_weight`` (0.0; an L2 cycle term as in CycleGAN, which
    the paper replaces by the GAN)."""

    model_class = CycleIAE
    extra_options = frozenset({"domain_b", "pixel_weight"})
    model: CycleIAE

    def __init__(self, model: Any, **options: Any) -> None:
        super().__init__(model, **options)
        if "domain_b" not in options:
            raise ValueError("CycleIAERecipe: option domain_b is required (which images are domain B)")
        self.term_weights["pixel"] = _number("pixel_weight", options.get("pixel_weight", 0.0))
        self.domain_b = domain_images(options["domain_b"], model.resolution, model.config.channels_b)
        model.prior.fill(self.domain_b.flatten(1))

    def forward(self, images: Tensor, ctx: StepContext) -> dict[str, Tensor]:
        out = self.autoencode(images, ctx)
        picks = torch.randint(len(self.domain_b), (images.shape[0],), generator=ctx.generator,
                              device=ctx.generator.device).cpu()
        return {**out, "domain_b": self.domain_b[picks].to(images)}

    def discriminator_terms(self, images: Tensor, out: dict[str, Tensor], ctx: StepContext) -> dict[str, Tensor]:
        codes, decoded = out["codes"].detach(), out["decoded"].detach()
        d_b, d_rec = self.discriminators["regularisation"], self.discriminators["reconstruction"]
        return {
            "regularisation": discriminator_loss(d_b(out["domain_b"]), d_b(codes.view_as(out["domain_b"]))),
            "reconstruction": discriminator_loss(d_rec(images, codes), d_rec(decoded, codes)),
        }

    def generator_terms(self, images: Tensor, out: dict[str, Tensor], ctx: StepContext) -> dict[str, Tensor]:
        codes, decoded = out["codes"], out["decoded"]
        terms = {
            "regularisation": generator_loss(self.discriminators["regularisation"](codes.view_as(out["domain_b"]))),
            "reconstruction": generator_loss(self.discriminators["reconstruction"](decoded, codes)),
        }
        if self.term_weights["pixel"]:
            terms["pixel"] = l2_loss(decoded, images)
        return terms
