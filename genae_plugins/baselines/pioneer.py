"""Balanced PIONEER's training: the automodulator's recipe, minus everything that needs per-block styles.

The automodulator extends Balanced PIONEER with an AdaIN decoder and style-mixing losses; taking those away
from its recipe leaves PIONEER's algorithm (the adversarial empirical-KL game between encoder and decoder
with a margin, pixel and latent reconstruction, progressive growing, decoder EMA). So this recipe *is*
:class:`~genae_plugins.automodulator.recipe.AutomodulatorRecipe`, run with:

- the loss computer told that the decoder has one input slot (no mixed fakes, no layer loss L_j);
- mixing, invariance and style-influence options refused instead of silently ignored;
- a schedule and preview grid that count decoder blocks rather than style slots.

The defaults are the paper's. At a CPU budget of 32,000 images they do not converge (the decoder, trained
only through the encoder, never follows its latent); the bundled ``pioneer-fashion-mnist-32`` therefore also
uses the automodulator recipe's non-paper ``decoder_reconstruction_weight`` and a small KL margin, as its
card and ``benchmarks/baselines/train_all.py`` record.
"""

from __future__ import annotations

from typing import Any

from torch import Tensor

from genae.training.recipe import Phase
from genae_plugins.automodulator.losses import AutomodulatorLosses
from genae_plugins.automodulator.recipe import AutomodulatorRecipe
from genae_plugins.baselines.model import Pioneer

#: Options of the automodulator recipe that only make sense with a style decoder, with the value PIONEER uses.
STYLE_ONLY_OPTIONS: dict[str, Any] = {
    "layer_weight": 0.0,
    "mix_fraction": 0.0,
    "fake_mix_fraction": 0.0,
    "invariance": False,
    "monitor_every": 0,
}


class SingleInputLosses(AutomodulatorLosses):
    """The automodulator's terms for a decoder with one input: every "style list" is ``[z]``."""

    @property
    def num_styles(self) -> int:
        return 1

    def active_styles(self, phase: Phase) -> int:
        return 1


class PioneerRecipe(AutomodulatorRecipe):
    """Balanced PIONEER = the automodulator's recipe on a classic decoder; options as the automodulator's."""

    def __init__(self, model: Pioneer, **options: Any) -> None:
        if not isinstance(model, Pioneer):
            raise TypeError(f"model: the PIONEER recipe trains a Pioneer model, got {type(model).__name__}")
        clashing = {k: v for k, v in options.items() if k in STYLE_ONLY_OPTIONS and v != STYLE_ONLY_OPTIONS[k]}
        if clashing:
            raise ValueError(
                f"PIONEER's classic decoder has no per-block styles, so options {sorted(clashing)} cannot apply; "
                f"leave them at {({k: STYLE_ONLY_OPTIONS[k] for k in clashing})}"
            )
        super().__init__(model, **{**STYLE_ONLY_OPTIONS, **options})
        self.options = dict(options)  # what the user chose; the fixed values above are implied by the name
        self.losses = SingleInputLosses(model, self.weights, self.reconstruction, self.opts.invariance_split)

    def preview(self, images: Tensor, latents: Tensor, phase: Phase) -> list[Tensor]:
        """Inputs, reconstructions and prior samples at the phase's resolution (nothing to mix)."""
        p, a = phase.index, phase.alpha
        model: Pioneer = self.model  # type: ignore[assignment]
        return [
            images,
            model.decode_at(model.encode_at(images, p, a), p, a).clamp(-1, 1),
            model.decode_at(latents, p, a).clamp(-1, 1),
        ]
