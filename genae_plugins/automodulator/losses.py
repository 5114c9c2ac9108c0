"""The automodulator's loss terms (paper eq. 6 plus the invariance terms of eq. 10-11), one function per step.

The encoder step trains the encoder (and the robust loss's shape/scale) with the decoder frozen; the
decoder step trains the decoder with the encoder frozen, gradients flowing *through* the frozen net.
Each function returns ``(terms, stats)``: ``terms`` are the weighted tensors the step minimises (their
sum), ``stats`` are diagnostics logged alongside. A term whose weight is 0 is neither computed nor
returned, so an ablation is a matter of options and the log shows exactly what was trained.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch
from torch import Tensor, nn

from genae.losses import AdaptiveRobustLoss, cosine_distance, empirical_kl, l1_loss, l2_loss
from genae.nets.freezing import frozen
from genae.training.recipe import Phase

RECONSTRUCTION_KINDS = ("robust", "l1", "l2")


@dataclass(frozen=True)
class LossWeights:
    """Weights of every term (0 switches a term off). Defaults: the authors' implementation (0.1x the paper)."""

    kl: float = 0.1  # KL(E(x)) of real codes, encoder step
    gap: float = 0.1  # the adversarial KL gap KL(E(x)) - KL(E(D(z))), encoder step
    margin: float | None = 0.5  # gap clamped to [-margin, margin/2]; None: never clamped
    margin_from_phase: int = 2  # the authors switch the margin on after the first two resolutions
    reconstruction: float = 0.2  # pixel reconstruction of real images, encoder step
    stable_boost: float = 1.5  # reconstruction weight multiplier once the newest block is faded in
    invariance: float = 0.0  # flip-pair reconstructions through swapped styles, encoder step
    fake_kl: float = 0.1  # KL(E(D(z))) of decoded prior samples, decoder step
    latent: float = 100.0 / 512  # cosine latent round trip of unmixed prior samples, decoder step
    layer: float = 1.0  # layer-specific loss L_j on mixed prior samples, decoder step
    decoder_reconstruction: float = 0.0  # NOT in the paper: pixel reconstruction of real images, decoder step

    def __post_init__(self) -> None:
        for name in ("kl", "gap", "reconstruction", "stable_boost", "invariance", "fake_kl", "latent", "layer",
                     "decoder_reconstruction"):
            value = getattr(self, name)
            if not isinstance(value, (int, float)) or isinstance(value, bool) or value < 0:
                raise ValueError(f"{name} weight: expected a non-negative number, got {value!r}")
        if self.margin is not None and not self.margin > 0:
            raise ValueError(f"margin: expected a positive number or None, got {self.margin!r}")


def mixed_styles(first: Tensor, second: Tensor, split: int, num_styles: int, rows: int | None = None) -> list[Tensor]:
    """Per-block latents: ``first`` drives blocks ``< split``, ``second`` blocks ``>= split``.

    With ``rows`` only the first ``rows`` samples are mixed; the others use ``first`` everywhere.
    """
    if not 0 <= split <= num_styles:
        raise ValueError(f"split: expected 0..{num_styles}, got {split}")
    if rows is not None and rows < first.shape[0]:
        second = torch.cat([second[:rows], first[rows:]])
    return [first if block < split else second for block in range(num_styles)]


def make_reconstruction_loss(kind: str, channels: int, resolution: int) -> Callable[[Tensor], Tensor]:
    """The pixel loss on a residual ``D(E(x)) - x``: Barron's adaptive loss (a module) or plain L1/L2."""
    if kind == "robust":
        return AdaptiveRobustLoss(channels, resolution)
    if kind == "l1":
        return lambda residual: l1_loss(residual, torch.zeros_like(residual))
    if kind == "l2":
        return lambda residual: l2_loss(residual, torch.zeros_like(residual))
    raise ValueError(f"reconstruction: expected one of {RECONSTRUCTION_KINDS}, got {kind!r}")


class AutomodulatorLosses:
    """Computes the terms of both steps for one model, one reconstruction loss and one set of weights.

    ``model`` must offer ``encode_at``/``decode_styles_at`` and a decoder with ``num_styles`` and
    ``features`` (the automodulator API). Randomness comes only from the ``generator`` passed in.
    """

    def __init__(
        self,
        model: nn.Module,
        weights: LossWeights,
        reconstruction: Callable[[Tensor], Tensor],
        invariance_split: int = 1,
    ) -> None:
        self.model = model
        self.weights = weights
        self.reconstruction = reconstruction
        self.invariance_split = invariance_split

    # -- helpers -----------------------------------------------------------------------------------
    @property
    def num_styles(self) -> int:
        return self.model.decoder.num_styles

    def _prior(self, n: int, generator: torch.Generator, device: torch.device) -> Tensor:
        return self.model.prior.sample(n, generator=generator, device=device)

    def active_styles(self, phase: Phase) -> int:
        """Style slots in use at ``phase``: mixing cuts and swaps are drawn among these."""
        return self.model.decoder.active_styles(phase.index)

    def _decode(self, styles: Sequence[Tensor], phase: Phase, generator: torch.Generator) -> Tensor:
        return self.model.decode_styles_at(styles, phase.index, phase.alpha, noise_generator=generator)

    @staticmethod
    def _twin_generators(generator: torch.Generator) -> tuple[torch.Generator, torch.Generator]:
        """Two generators with one seed drawn from ``generator``: the same decoder noise for two passes."""
        seed = int(torch.randint(2**62, (1,), generator=generator, device=generator.device))
        return tuple(torch.Generator(device=generator.device).manual_seed(seed) for _ in range(2))  # type: ignore[return-value]

    @staticmethod
    def _randint(high: int, generator: torch.Generator) -> int:
        """A uniform draw from 1..high (a mixing block) on the recipe's own generator."""
        return int(torch.randint(1, high + 1, (1,), generator=generator, device=generator.device))

    def sample_fakes(
        self, n: int, mix_rows: int, phase: Phase, generator: torch.Generator, device: torch.device
    ) -> Tensor:
        """Decode ``n`` prior samples, the first ``mix_rows`` style-mixed at a random block (no gradients)."""
        z = self._prior(n, generator, device)
        partner = self._prior(n, generator, device)
        active = self.active_styles(phase)
        split = self._randint(active - 1, generator) if active > 1 and mix_rows > 0 else self.num_styles
        styles = mixed_styles(z, partner, split, self.num_styles, rows=mix_rows)
        with torch.no_grad():
            return self._decode(styles, phase, generator)

    # -- the encoder step --------------------------------------------------------------------------
    def encoder_terms(
        self, images: Tensor, fakes: Tensor | None, phase: Phase, generator: torch.Generator
    ) -> tuple[dict[str, Tensor], dict[str, float]]:
        """Terms of L_phi. ``fakes`` are decoded prior samples (None when the gap term is off)."""
        w, model = self.weights, self.model
        p, a = phase.index, phase.alpha
        terms: dict[str, Tensor] = {}
        stats: dict[str, float] = {}
        if w.gap and fakes is None:
            raise ValueError("fakes: the KL gap term needs decoded prior samples")
        # One encoder pass over every image the step encodes: a larger batch runs the convolutions faster,
        # and the encoder has no batch-coupled layers, so each part's codes are what separate passes give.
        flipped = torch.flip(images, dims=[3]) if w.invariance else None
        parts = [x for x in (images, fakes if w.gap else None, flipped) if x is not None]
        with frozen(model.decoder):
            codes = iter(model.encode_at(torch.cat(parts), p, a).split([x.shape[0] for x in parts]))
            z_real = next(codes)
            kl_real = empirical_kl(z_real)
            stats["kl_real"] = float(kl_real.detach())
            if w.kl:
                terms["kl_real"] = w.kl * kl_real
            if w.reconstruction:
                boost = 1.0 if phase.fading else w.stable_boost
                styles = [z_real] * self.num_styles
                residual = self._decode(styles, phase, generator) - images
                terms["reconstruction"] = w.reconstruction * boost * self.reconstruction(residual)
                stats["reconstruction_mse"] = float((residual.detach().float() ** 2).mean())
            if w.gap:
                kl_fake = empirical_kl(next(codes))
                stats["kl_fake"] = float(kl_fake.detach())
                gap = w.gap * (kl_real - kl_fake)
                if w.margin is not None and p >= w.margin_from_phase:
                    gap = gap.clamp(-w.margin, w.margin / 2)
                terms["kl_gap"] = gap
            if flipped is not None:
                invariance = self._invariance(images, z_real, flipped, next(codes), phase, generator)
                terms["invariance"] = w.invariance * invariance
        return terms, stats

    def _invariance(self, images: Tensor, codes: Tensor, flipped: Tensor, flipped_codes: Tensor, phase: Phase,
                    generator: torch.Generator) -> Tensor:
        """Eq. 10-11 with horizontal flips: blocks < j from the image itself, blocks >= j from its mirror.

        The mirror shares everything but left-right orientation, so decoding an image's coarse styles with
        its mirror's finer styles must give the image back; this pushes orientation into blocks < j.
        """
        split = min(self.invariance_split, self.active_styles(phase))
        n = self.num_styles
        own = self._decode(mixed_styles(codes, flipped_codes, split, n), phase, generator)
        mirrored = self._decode(mixed_styles(flipped_codes, codes, split, n), phase, generator)
        return 0.5 * (self.reconstruction(own - images) + self.reconstruction(mirrored - flipped))

    # -- the decoder step --------------------------------------------------------------------------
    def _decode_mixed_keeping_target(
        self, styles: list[Tensor], mix_rows: int, split: int, phase: Phase, generator: torch.Generator
    ) -> tuple[Tensor, Tensor, torch.Generator]:
        """Decode all rows and keep the layer loss's target: the mixed rows' features after block ``split - 1``.

        Those blocks see only the first code, so the main pass's intermediate *is* the target (paper eq. 5:
        xi(j) of the first pass); no second partial pass. The mixed rows are decoded on their own with a
        seeded generator, and the returned twin of it replays the same noise in the re-encoded pass: the loss
        then measures only what the styles change. (The decoder has no batch-coupled layers, so splitting
        the rows changes no output.)
        """
        noise, noise_again = self._twin_generators(generator)
        decoder, p, a = self.model.decoder, phase.index, phase.alpha
        mixed, target = decoder.forward_styles_and_features([s[:mix_rows] for s in styles], split - 1, p, a,
                                                            noise_generator=noise)
        if mix_rows < styles[0].shape[0]:
            mixed = torch.cat([mixed, self._decode([s[mix_rows:] for s in styles], phase, generator)])
        return mixed, target, noise_again

    def decoder_terms(
        self, n: int, mix_rows: int, phase: Phase, generator: torch.Generator, device: torch.device,
        images: Tensor | None = None,
    ) -> tuple[dict[str, Tensor], dict[str, float]]:
        """Terms of L_theta on ``n`` prior samples, the first ``mix_rows`` mixed at one random block j.

        ``images`` (real, needed only when ``decoder_reconstruction`` > 0) are reconstructed through the
        frozen encoder: a pixel-space signal for the decoder, which the authors' recipe does not have (their
        decoder learns only through the encoder's latent space, which takes GPU-weeks; see the recipe docs).
        """
        w, model = self.weights, self.model
        p, a = phase.index, phase.alpha
        active = self.active_styles(phase)
        if active == 1:
            mix_rows = 0  # one block: nothing to mix
        z = self._prior(n, generator, device)
        partner = self._prior(n, generator, device)
        split = self._randint(active - 1, generator) if mix_rows else self.num_styles
        styles = mixed_styles(z, partner, split, self.num_styles, rows=mix_rows)
        terms: dict[str, Tensor] = {}
        stats: dict[str, float] = {}
        with frozen(model.encoder):
            layer_loss = bool(w.layer and mix_rows)
            if layer_loss:
                decoded, target, noise_again = self._decode_mixed_keeping_target(styles, mix_rows, split, phase,
                                                                                 generator)
            else:
                decoded = self._decode(styles, phase, generator)
            z_hat = model.encode_at(decoded, p, a)
            if w.fake_kl:
                terms["fake_kl"] = w.fake_kl * empirical_kl(z_hat)
            if w.latent and mix_rows < n:
                terms["latent"] = w.latent * cosine_distance(z_hat[mix_rows:], z[mix_rows:])
            if layer_loss:
                again = model.decoder.features([z_hat[:mix_rows]] * self.num_styles, split - 1, noise_again)
                terms["layer"] = w.layer * l2_loss(again, target)
            if w.decoder_reconstruction:
                if images is None:
                    raise ValueError("images: the decoder reconstruction term needs the real batch")
                with torch.no_grad():
                    codes = model.encode_at(images, p, a)
                boost = 1.0 if phase.fading else w.stable_boost
                residual = self._decode([codes] * self.num_styles, phase, generator) - images
                terms["reconstruction"] = w.decoder_reconstruction * boost * self.reconstruction(residual)
            if mix_rows < n:  # the trainer stops on a non-finite log value, so no NaN placeholder
                cosine = nn.functional.cosine_similarity(z_hat[mix_rows:].detach(), z[mix_rows:], dim=1)
                stats["latent_cosine"] = float(cosine.mean())
        return terms, stats


def style_influence(model: nn.Module, images: Tensor, phase: Phase) -> dict[str, float]:
    """How much each active block's style changes the output (mean |change| in pixels, no gradients).

    For each block b, the block's style is replaced by another image's code (a roll of the batch) while
    the other blocks keep their own. A block near 0 ignores its style: the collapse the pitfalls warn of.
    ``all`` is the change when every block is swapped, the natural scale to compare against.
    """
    if images.shape[0] < 2:
        raise ValueError("images: the style swap needs at least 2 images")
    p, a = phase.index, phase.alpha
    n = model.decoder.num_styles
    was_training = model.training
    model.eval()  # no noise and no spectral-norm power iteration: a pure measurement
    try:
        with torch.no_grad():
            codes = model.encode_at(images, p, a)
            others = codes.roll(1, dims=0)
            base = model.decode_styles_at([codes] * n, p, a)
            result = {"all": float((model.decode_styles_at([others] * n, p, a) - base).abs().mean())}
            for block in range(model.decoder.active_styles(p)):
                styles: Sequence[Tensor] = [others if b == block else codes for b in range(n)]
                result[f"block{block}"] = float((model.decode_styles_at(styles, p, a) - base).abs().mean())
    finally:
        model.train(was_training)
    return result
