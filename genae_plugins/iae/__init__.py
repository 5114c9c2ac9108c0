"""Implicit autoencoders (Makhzani, "Implicit Autoencoders"): ``iae`` (the four cases of section 2, the AAE
case, clustering and semi-supervised modes), ``flipped-iae`` (section 4) and ``cycle-iae`` (section 3).

Registered through the ``genae.plugins`` entry point; nothing here imports torch until a model is created.
"""

from __future__ import annotations

import importlib.resources
from typing import Any

_MODEL = "genae_plugins.iae.model"
_RECIPE = "genae_plugins.iae.recipe"

#: name -> (model class, recipe class, description)
ARCHITECTURES: dict[str, tuple[str, str, str]] = {
    "iae": ("IAE", "IAERecipe",
            "implicit autoencoder: reconstruction GAN on (x, z) pairs, optional regularisation GAN, decoder noise"),
    "flipped-iae": ("FlippedIAE", "FlippedIAERecipe",
                    "flipped IAE: a GAN with an implicit posterior network (InfoGAN with a Euclidean code cost)"),
    "cycle-iae": ("CycleIAE", "CycleIAERecipe",
                  "CycleIAE: unpaired, stochastic image-to-image translation through an image-shaped code"),
}

#: Bundled weights: folder -> (architecture, description). Only folders that ship are registered.
PRETRAINED: dict[str, tuple[str, str]] = {
    "iae-fashion-mnist-32": ("iae", "IAE, deterministic decoder, reconstruction case"),
    "iae-cluster-fashion-mnist-32": ("iae", "clustering IAE, 30 categories + 10-d decoder noise, no labels"),
    "iae-semisup-fashion-mnist-32": ("iae", "IAE, categorical code (10 classes), trained with 100 labels"),
    "flipped-iae-fashion-mnist-32": ("flipped-iae", "flipped IAE, deterministic nets"),
    "cycle-iae-fashion-edges-32": ("cycle-iae", "CycleIAE, Fashion-MNIST garments ↔ their edge maps (unpaired)"),
}
PRETRAINED_DATASET, PRETRAINED_RESOLUTION = "fashion-mnist", 32
#: The defaults of ``iae`` and ``flipped-iae``: the bundled models' widths (0.9M parameters, minutes on a CPU);
#: ``iae-paper`` and ``flipped-iae-paper`` keep the config's own (the paper's MNIST widths, 14.7M).
COMPACT: dict[str, Any] = {"encoder_widths": [256, 256], "decoder_hidden": 256, "decoder_channels": [32, 16],
                           "disc_channels": [32, 64], "disc_hidden": 256, "condition_hidden": 256,
                           "code_disc_widths": [256, 256]}


def _packaged(folder: str) -> bool:
    return importlib.resources.files(__name__).joinpath("pretrained", folder, "config.json").is_file()


def register(registry: Any) -> None:
    """Add the three architectures, and the bundled weights that are present, to *registry*."""
    from genae.registry import ModelSpec, PretrainedSpec

    for name, (model, recipe, description) in ARCHITECTURES.items():
        variants = [(name, {}, "")] if name == "cycle-iae" else [(name, COMPACT, "; compact widths"),
                                                                 (f"{name}-paper", {}, "; the paper's widths")]
        for variant, defaults, size in variants:
            registry.add_model(ModelSpec(variant, f"{_MODEL}:{model}", defaults=dict(defaults),
                                         recipe=f"{_RECIPE}:{recipe}", description=description + size))
    for folder, (architecture, description) in PRETRAINED.items():
        if _packaged(folder):
            registry.add_pretrained(PretrainedSpec(
                folder, architecture=architecture, dataset=PRETRAINED_DATASET, resolution=PRETRAINED_RESOLUTION,
                package_files=f"{__name__}:pretrained/{folder}",
                source="trained on this CPU by benchmarks/iae/train_all.py", description=description,
            ))
