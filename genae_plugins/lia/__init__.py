"""The LIA plugin: latently invertible autoencoder (invertible flow, StyleGAN-1 generator, two-stage training).

Registered through the ``genae.plugins`` entry point like any third-party plugin; ``register`` imports
nothing heavy (the model and recipe are ``"module:attr"`` strings).
"""

from __future__ import annotations

import importlib.resources
from typing import Any

BUNDLED = "lia-fashion-mnist-32"


def _packaged(folder: str) -> bool:
    return importlib.resources.files(__name__).joinpath("pretrained", folder, "config.json").is_file()


def register(registry: Any) -> None:
    """Add ``lia`` (and its bundled Fashion-MNIST weights when they ship) to *registry*."""
    from genae.registry import ModelSpec, PretrainedSpec

    description = ("Latently invertible autoencoder (Zhu et al. 2022): NICE flow + StyleGAN-1 generator, encoder to "
                   "w; two-stage training (--option stage=1|2)")
    for name, defaults, size in (("lia", {"channels": "compact", "latent_dim": 64}, "compact widths"),
                                 ("lia-paper", {}, "StyleGAN-1 widths, latent 512")):
        registry.add_model(ModelSpec(name, f"{__name__}.model:LIA", recipe=f"{__name__}.recipe:LIARecipe",
                                     defaults=defaults, description=f"{description}; {size}"))
    if _packaged(BUNDLED):  # only weights that ship are listed
        registry.add_pretrained(PretrainedSpec(
            BUNDLED, architecture="lia", dataset="fashion-mnist", resolution=32,
            package_files=f"{__name__}:pretrained/{BUNDLED}",
            source="trained on CPU by benchmarks/lia/train_fashion_mnist.py",
            description="LIA trained on Fashion-MNIST 32×32 (bundled)",
        ))
