"""Where edits happen: a model's *style codes*, the vectors its decoder reads linearly, one per slot.

These are the model's *style space*, the capability inversion and interpolation use too
(:meth:`~genae.interfaces.GenerativeAutoencoder.style_space` and ``to_style_space``): for most families the
model's own latents (the automodulator's z, StyleGAN2's w, a VAE's z with a single slot), for LIA ``w = φ⁻¹(z)``.
``style_affine_weights()`` on the style space's decoder (per slot, the matrices reading the codes) is what
SeFa needs.
Decoding goes through exactly the operations ``model.decode`` uses, so an edit of strength 0 reproduces the
model's own reconstruction bit for bit.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torch import Tensor

from genae.interfaces import GenerativeAutoencoder, StyleRange

#: Images encoded (or prior draws mapped) per forward pass.
BATCH_SIZE = 256


class EditSpace:
    """One model's style-code space: encode to codes, decode per-slot codes, read the style affines."""

    def __init__(self, model: Any) -> None:
        if not isinstance(model, GenerativeAutoencoder):
            raise TypeError(f"model: expected a genae model (GenerativeAutoencoder), got {type(model).__name__}")
        self.model = model
        space = model.style_space()
        self.decoder = space.decoder
        self.num_slots = self.decoder.num_styles if model.is_style_based else 1
        self.dim = model.latent_dim
        #: "w" for codes behind a mapping (LIA's flow, StyleGAN2's mapping network), else "z".
        self.name = "w" if space is not model or hasattr(model.prior, "mapping") else "z"

    # -- slots ------------------------------------------------------------------------------------------
    def slot_range(self, spec: StyleRange) -> tuple[int, int]:
        """``None`` → every slot; else a named range (coarse/intermediate/fine/all), ``(start, stop)`` or ``range``."""
        if spec is None:
            return (0, self.num_slots)
        if not self.model.is_style_based:
            raise ValueError(f"slots: {type(self.decoder).__name__} is not style-based (one latent, no slots); "
                             f"pass slots=None, got {spec!r}")
        return self.model.resolve_style_range(spec)

    # -- codes ------------------------------------------------------------------------------------------
    def codes(self, latents: Tensor) -> list[Tensor]:
        """Per-slot codes from latents ``(B, D)`` (one for every slot) or per-slot latents ``(B, S, D)``."""
        if isinstance(latents, Tensor) and latents.dim() == 3:
            if latents.shape[1] != self.num_slots:
                raise ValueError(f"latents: expected (B, {self.num_slots}, {self.dim}) per-slot latents, "
                                 f"got {tuple(latents.shape)}")
            per_slot = list(latents.unbind(1))
            for index, z in enumerate(per_slot):
                self.model.check_latents(z, name=f"latents[:, {index}]")
            return [self._map(z) for z in per_slot]
        self.model.check_latents(latents)
        return [self._map(latents)] * self.num_slots

    def _map(self, latents: Tensor) -> Tensor:
        return self.model.to_style_space(latents)

    def decode(self, codes: Sequence[Tensor]) -> Tensor:
        """Images in ``[-1, 1]`` from per-slot codes, through the operations ``model.decode`` runs."""
        if self.model.is_style_based:
            out = self.decoder.forward_styles(list(codes))
        else:
            out = self.decoder(codes[0])
        return out.clamp(-1, 1)

    @torch.no_grad()
    def encode_codes(self, images: Tensor) -> Tensor:
        """Codes ``(N, D)`` of images (encoded in batches on the model's device), on the CPU."""
        out = []
        for batch in images.split(BATCH_SIZE):
            out.append(self._map(self.model.encode(batch.to(self.model.device))).float().cpu())
        return torch.cat(out)

    @torch.no_grad()
    def sample_codes(self, n: int, seed: int) -> Tensor:
        """Codes ``(n, D)`` of seeded prior draws (StyleGAN2: mapped w; LIA: ``φ⁻¹(z)``), on the CPU."""
        generator = torch.Generator().manual_seed(seed)
        out = []
        for start in range(0, n, BATCH_SIZE):
            size = min(BATCH_SIZE, n - start)
            z = self.model.prior.sample(size, generator=generator, device=self.model.device)
            out.append(self._map(z.to(self.model.dtype)).float().cpu())
        return torch.cat(out)

    # -- weights ----------------------------------------------------------------------------------------
    def affine_weights(self, slots: tuple[int, int]) -> Tensor:
        """The style affine matrices of ``slots`` stacked row-wise, ``(rows, D)`` in float64 on the CPU."""
        hook = getattr(self.decoder, "style_affine_weights", None)
        if hook is None:
            raise TypeError(f"sefa: {type(self.decoder).__name__} does not expose its style affine weights "
                            "(a decoder method style_affine_weights() returning per-slot matrices)")
        per_slot = hook()
        chosen = [w.detach().double().cpu() for slot in range(*slots) for w in per_slot[slot]]
        if not chosen:
            raise ValueError(f"slots: slots {slots[0]}..{slots[1] - 1} hold no style affine weights "
                             "(e.g. only a ToRGB); choose other slots")
        return torch.cat(chosen)

