"""``genae.edit``: move real images (or latents) along a direction and decode, for a list of strengths."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any, Union

import torch
from torch import Tensor

from genae.editing.directions import Direction, Directions
from genae.editing.space import EditSpace
from genae.interfaces import StyleRange

DirectionSpec = Union[Direction, Directions, Tensor]
#: genae.invert settings used when ``invert=True``: W+ (per-slot codes), no noise maps (codes alone decode).
INVERT_DEFAULTS: dict[str, Any] = {"space": "w+", "steps": 200, "optimise_noise": False}


def edit(
    model: Any,
    inputs: Tensor,
    direction: DirectionSpec,
    strength: float | Sequence[float] = (-3.0, 0.0, 3.0),
    *,
    slots: StyleRange = None,
    invert: bool | Mapping[str, Any] | None = None,
) -> Tensor:
    """Edited images ``(B, len(strength), C, H, W)`` in ``[-1, 1]``.

    ``inputs``: images ``(B, C, H, W)`` (encoded, or inverted with :func:`genae.invert`), latents ``(B, D)`` or
    per-slot latents ``(B, S, D)`` in the model's latent space. ``direction``: ``d[i]`` of a
    :class:`Directions`, a one-direction ``Directions``, or a ``(D,)`` tensor in the style-code space (scale 1,
    every slot). ``strength``: standard deviations along the direction; 0 gives the unedited decoding, which
    for encoded images is exactly ``model.reconstruct(images)``. ``slots``: where to apply it (default: the
    direction's own slots). ``invert``: ``True`` or ``genae.invert`` options to optimise latents instead of
    encoding (default: only for models whose capabilities say they cannot encode).
    """
    space = EditSpace(model)
    vector, scale, own_slots = _direction(direction, space)
    start, stop = own_slots if slots is None else space.slot_range(slots)
    strengths = _strengths(strength)
    codes = _codes(space, inputs, invert)
    vector = vector.to(device=codes[0].device, dtype=codes[0].dtype)
    frames = []
    with torch.no_grad():
        for value in strengths:
            offset = (value * scale) * vector
            moved = [c + offset if start <= slot < stop else c for slot, c in enumerate(codes)]
            frames.append(space.decode(moved))
    return torch.stack(frames, dim=1)


def _direction(direction: Any, space: EditSpace) -> tuple[Tensor, float, tuple[int, int]]:
    if isinstance(direction, Directions):
        if len(direction) != 1:
            raise ValueError(f"direction: this Directions holds {len(direction)}; pass one of them, e.g. d[0]")
        direction = direction[0]
    if isinstance(direction, Direction):
        if direction.vector.shape != (space.dim,) or direction.num_slots != space.num_slots:
            raise ValueError(f"direction: made for codes of size {direction.vector.shape[0]} with "
                             f"{direction.num_slots} slots; this model has {space.dim} and {space.num_slots}")
        return direction.vector, direction.scale, direction.slots
    if isinstance(direction, Tensor):
        if direction.shape != (space.dim,) or not bool(torch.isfinite(direction).all()):
            raise ValueError(f"direction: expected a finite ({space.dim},) tensor, got shape {tuple(direction.shape)}")
        return direction.detach(), 1.0, (0, space.num_slots)
    raise TypeError(f"direction: expected a Direction (d[i]), a Directions or a tensor, got {type(direction).__name__}")


def _strengths(strength: Any) -> list[float]:
    values = [strength] if isinstance(strength, (int, float)) else strength
    if (isinstance(values, (str, bytes)) or not isinstance(values, Sequence) or not values
            or not all(isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) for v in values)):
        raise ValueError(f"strength: expected a finite number or a non-empty list of them, got {strength!r}")
    return [float(v) for v in values]


def _codes(space: EditSpace, inputs: Any, invert: Any) -> list[Tensor]:
    model = space.model
    if not isinstance(inputs, Tensor) or inputs.dim() not in (2, 3, 4):
        got = tuple(inputs.shape) if isinstance(inputs, Tensor) else type(inputs).__name__
        raise ValueError(f"inputs: expected images (B, C, H, W), latents (B, D) or per-slot latents (B, S, D), "
                         f"got {got}")
    if inputs.dim() < 4:
        if invert:
            raise ValueError("invert: only images can be inverted; latents are decoded as given")
        with torch.no_grad():
            return space.codes(inputs)
    if invert is None:
        invert = not model.capabilities().get("encode", True)
    if not invert:
        with torch.no_grad():
            return space.codes(model.encode(inputs))
    from genae.inversion import invert as run_inversion

    options = {**INVERT_DEFAULTS, **(invert if isinstance(invert, Mapping) else {})}
    result = run_inversion(model, inputs, "optimise", **options)
    with torch.no_grad():
        return space.codes(result.latents)
