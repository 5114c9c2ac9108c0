"""Perceptual path length (Karras et al. 2019, sec. 3.1; used by the automodulator paper).

For random endpoints z1, z2 from the prior and t ~ U(0, 1), PPL is the mean of
d(G(path(t)), G(path(t + eps))) / eps^2 with eps = 1e-4, where path is slerp for spherical priors and lerp
otherwise, and d is LPIPS (VGG) computed in float, never on uint8-quantised images. The 1st and 99th
percentiles are discarded before averaging, as in the StyleGAN code.

``space="z"`` moves one latent that drives every style slot. ``space="styles"`` (style decoders only) gives
every slot its own endpoints and moves all slots together, measuring smoothness in the per-slot latent
space that style mixing uses. ``space="w"`` moves w: LIA's w = φ⁻¹(z) (its ``w_space()``) or the output of
a mapped prior (StyleGAN2's mapping network, whose ``z`` space is then the mapping's input).

Two variants: ``"genae"`` (the default above: the path follows the prior, decoder outputs clamped to
[-1, 1] before LPIPS) and ``"stylegan"`` (StyleGAN's definition: slerp in z whatever the prior, lerp in w,
outputs not clamped). StyleGAN's slerp returns unit vectors, which its mapping network's input
normalisation makes scale-free; genae decoders have no such layer, so for a Gaussian prior the slerped z is
rescaled to the prior's typical norm sqrt(d). StyleGAN's face crop is ``crop=face_crop(resolution)``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import torch
from torch import Tensor

from genae.metrics.perceptual import Crop, crop_images
from genae.priors import lerp, slerp

EPSILON = 1e-4
Distance = Callable[[Tensor, Tensor], Tensor]
SPACES = ("z", "styles", "w")
VARIANTS = ("genae", "stylegan")


def face_crop(resolution: int) -> Crop:
    """StyleGAN's PPL crop of an aligned face: rows 3/8..7/8, columns 2/8..6/8 of the image."""
    c = resolution // 8
    return (3 * c, 2 * c, 4 * c, 4 * c)


def _is_mapped(prior: Any) -> bool:
    return hasattr(prior, "draw_z") and hasattr(prior, "mapping")


def has_w_space(model: Any) -> bool:
    """Whether PPL can move in w: a ``w_space()`` view (LIA) or a mapped prior whose samples are w (StyleGAN2)."""
    return hasattr(model, "w_space") or _is_mapped(model.prior)


def interpolation_rule(model: Any, space: str, variant: str) -> str:
    """``"slerp"`` or ``"lerp"``: the path PPL takes between two latents of ``space`` under ``variant``."""
    if space == "w":
        return "lerp"
    if variant == "stylegan":
        return "slerp"
    return "slerp" if model.prior.is_spherical else "lerp"


def _stylegan_slerp(a: Tensor, b: Tensor, t: Tensor, spherical: bool) -> Tensor:
    out = slerp(a, b, t)
    return out if spherical else out * a.shape[-1] ** 0.5


def trimmed_mean(values: np.ndarray, low: float = 1.0, high: float = 99.0) -> float:
    """Mean of values within the [low, high] percentiles (StyleGAN: 'lower'/'higher' percentile rules)."""
    lo = np.percentile(values, low, method="lower")
    hi = np.percentile(values, high, method="higher")
    return float(values[(values >= lo) & (values <= hi)].mean())


@torch.no_grad()
def path_lengths(
    model: Any,
    n: int,
    distance: Distance,
    space: str = "z",
    epsilon: float = EPSILON,
    crop: Crop | None = None,
    batch_size: int = 64,
    seed: int = 0,
    progress: Callable[[int], None] | None = None,
    variant: str = "genae",
) -> np.ndarray:
    """The ``n`` raw per-sample values d(...)/eps^2 (float64), before trimming."""
    if isinstance(n, bool) or not isinstance(n, int) or n < 2:
        raise ValueError(f"n: PPL needs at least 2 samples, got {n!r}")
    if space not in SPACES:
        raise ValueError(f"space: expected one of {', '.join(SPACES)}, got {space!r}")
    if variant not in VARIANTS:
        raise ValueError(f"variant: expected one of {', '.join(VARIANTS)}, got {variant!r}")
    if space == "styles" and not model.is_style_based:
        raise TypeError("space='styles' needs a style-based decoder; this model has none (use space='z')")
    if space == "w" and not has_w_space(model):
        raise TypeError(f"space='w' needs a model with a w space (w_space() or a mapped prior); "
                        f"{type(model).__name__} has none")
    if space == "w" and hasattr(model, "w_space"):
        model = model.w_space()
    # A mapped prior (StyleGAN2: z -> mapping -> w) draws its latents in w; "z" then means before the mapping.
    mapped = _is_mapped(model.prior) and space != "w"
    draw = model.prior.draw_z if mapped else model.prior.sample
    if not epsilon > 0:
        raise ValueError(f"epsilon: expected a positive number, got {epsilon}")
    if interpolation_rule(model, space, variant) == "lerp":
        interpolate = lerp
    elif variant == "stylegan":
        spherical = model.prior.is_spherical

        def interpolate(a: Tensor, b: Tensor, t: Tensor) -> Tensor:
            return _stylegan_slerp(a, b, t, spherical)
    else:
        interpolate = slerp
    slots = model.decoder.num_styles if space == "styles" else 1
    generator = torch.Generator().manual_seed(seed)
    device = model.device
    values = []
    done = 0
    while done < n:
        size = min(batch_size, n - done)
        z1 = [draw(size, generator=generator, device=device) for _ in range(slots)]
        z2 = [draw(size, generator=generator, device=device) for _ in range(slots)]
        t = torch.rand(size, generator=generator).to(device, z1[0].dtype)
        images = []
        for step in (t, t + epsilon):
            latents = [interpolate(a, b, step) for a, b in zip(z1, z2)]
            if mapped:
                latents = [model.prior.mapping(z) for z in latents]
            out = model.decoder.forward_styles(latents) if space == "styles" else model.decoder(latents[0])
            if variant == "genae":
                out = out.clamp(-1, 1)
            images.append(crop_images(out.float(), crop))
        values.append((distance(images[0], images[1]).double() / epsilon**2).cpu())
        done += size
        if progress is not None:
            progress(size)
    return torch.cat(values).numpy()


def perceptual_path_length(model: Any, n: int, distance: Distance, **kwargs: Any) -> dict[str, float]:
    """PPL (trimmed mean) with the number of samples it came from; see :func:`path_lengths` for options."""
    raw = path_lengths(model, n, distance, **kwargs)
    return {"ppl": trimmed_mean(raw), "n": int(raw.size)}
