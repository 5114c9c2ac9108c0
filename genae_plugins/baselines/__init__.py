"""Baselines of the automodulator paper (Table 2a): VAE and WAE-MMD with a classic or an AdaIN decoder,
and Balanced PIONEER. Registered through the ``genae.plugins`` entry point like any third-party plugin;
nothing here imports torch until a model is created.
"""

from __future__ import annotations

import importlib.resources
from typing import Any

_MODEL = "genae_plugins.baselines.model"
_RECIPE = "genae_plugins.baselines.recipe"

#: name -> (model class, recipe class, config defaults, description)
ARCHITECTURES: dict[str, tuple[str, str, dict[str, Any], str]] = {
    "vae": ("VAE", "VAERecipe", {}, "VAE, classic decoder (z at the input)"),
    "vae-adain": ("VAE", "VAERecipe", {"decoder": "adain"}, "VAE, the automodulator's AdaIN decoder"),
    "wae": ("WAE", "WAERecipe", {}, "WAE-MMD (IMQ kernel), classic decoder"),
    "wae-adain": ("WAE", "WAERecipe", {"decoder": "adain"}, "WAE-MMD (IMQ kernel), AdaIN decoder"),
    "pioneer": ("Pioneer", "genae_plugins.baselines.pioneer:PioneerRecipe", {},
                "Balanced PIONEER: the automodulator's training with a classic decoder"),
}

PRETRAINED_DATASET, PRETRAINED_RESOLUTION = "fashion-mnist", 32


def _packaged(folder: str) -> bool:
    return importlib.resources.files(__name__).joinpath("pretrained", folder, "config.json").is_file()


def register(registry: Any) -> None:
    from genae.registry import ModelSpec, PretrainedSpec
    from genae_plugins.automodulator import COMPACT_DEFAULTS

    for name, (model, recipe, defaults, description) in ARCHITECTURES.items():
        recipe_target = recipe if ":" in recipe else f"{_RECIPE}:{recipe}"
        for variant, size in ((name, {**COMPACT_DEFAULTS, **defaults}), (f"{name}-paper", dict(defaults))):
            registry.add_model(ModelSpec(
                variant, f"{_MODEL}:{model}", defaults=size, recipe=recipe_target,
                description=f"{description}; {'paper-scale' if variant != name else 'compact'} widths",
            ))
        folder = f"{name}-{PRETRAINED_DATASET}-{PRETRAINED_RESOLUTION}"
        if _packaged(folder):  # only weights that ship are listed; see benchmarks/baselines/train_all.py
            registry.add_pretrained(
                PretrainedSpec(
                    folder,
                    architecture=name,
                    dataset=PRETRAINED_DATASET,
                    resolution=PRETRAINED_RESOLUTION,
                    package_files=f"{__name__}:pretrained/{folder}",
                    source="trained on this CPU by benchmarks/baselines/train_all.py",
                    description=f"{description}, Fashion-MNIST 32×32",
                )
            )
