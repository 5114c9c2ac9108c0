"""genae-example-plugin: registers one architecture, ``example-ae``. Imports no torch (listing stays fast)."""

from __future__ import annotations

from typing import Any


def register(registry: Any) -> None:
    from genae.registry import ModelSpec

    registry.add_model(ModelSpec(
        "example-ae", "genae_example_plugin.model:ExampleAutoencoder",
        recipe="genae_example_plugin.recipe:ExampleRecipe",
        description="Example plugin: a small convolutional Gaussian-prior autoencoder",
    ))
    registry.add_model(ModelSpec("example-ae-wide", "genae_example_plugin.model:ExampleAutoencoder",
                                 defaults={"width": 64}, description="example-ae with twice the channels"))
