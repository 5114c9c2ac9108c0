"""genae: generative autoencoders — encode, decode, sample and edit images.

Importing genae is cheap: torch and the plugins load only when a model is created or loaded.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from genae._version import __version__

if TYPE_CHECKING:  # what the lazy names are, for type checkers and IDEs (never imported at run time)
    from genae.editing import directions, edit
    from genae.factory import create, list_models, list_pretrained, load, register_model
    from genae.fitted_prior import fit_prior
    from genae.inversion import invert

__all__ = ["__version__", "create", "directions", "edit", "fit_prior", "invert", "list_models", "list_pretrained", "load",
           "register_model"]

_LAZY = {
    "create": "genae.factory",
    "directions": "genae.editing",
    "edit": "genae.editing",
    "fit_prior": "genae.fitted_prior",
    "invert": "genae.inversion",
    "load": "genae.factory",
    "list_models": "genae.factory",
    "list_pretrained": "genae.factory",
    "register_model": "genae.factory",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'genae' has no attribute {name!r}")


def __dir__() -> list[str]:
    """The public API, lazy names included (module globals alone would hide them)."""
    return sorted({*__all__, *(n for n in globals() if n.startswith("__"))})
