"""genae: generative autoencoders — encode, decode, sample and edit images.

Importing genae is cheap: torch and the plugins load only when a model is created or loaded.
"""

from __future__ import annotations

from typing import Any

from genae._version import __version__

__all__ = ["__version__", "create", "invert", "list_models", "load", "register_model"]

_LAZY = {
    "create": "genae.factory",
    "invert": "genae.inversion",
    "load": "genae.factory",
    "list_models": "genae.factory",
    "register_model": "genae.factory",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'genae' has no attribute {name!r}")
