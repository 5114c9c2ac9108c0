"""Editing real images along latent directions, for every genae model.

``genae.directions(model, method=...)`` finds directions (SeFa, GANSpace, label-supervised) in the model's
style-code space; ``genae.edit(model, images, d[i], strength=[...])`` moves images along one. See docs/editing.md.
"""

from __future__ import annotations

from genae.editing.directions import Direction, Directions
from genae.editing.edit import edit
from genae.editing.methods import METHODS, directions, fit_boundary
from genae.editing.space import EditSpace

__all__ = ["METHODS", "Direction", "Directions", "EditSpace", "directions", "edit", "fit_boundary"]
