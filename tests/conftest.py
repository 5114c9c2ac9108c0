"""Shared fixtures: the toy model registered once, repo/shared paths, quiet threads."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch

torch.set_num_threads(int(os.environ.get("GENAE_TEST_THREADS", "1")))

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"


@pytest.fixture(scope="session")
def toy_name() -> str:
    """Name of the toy architecture (``genae.testing.toy``) in the global registry."""
    from genae.registry import REGISTRY, ModelSpec

    REGISTRY.discover()
    if "toy" not in REGISTRY.models:
        REGISTRY.add_model(
            ModelSpec("toy", "genae.testing.toy:ToyAutoencoder", plugin="tests",
                      recipe="genae.testing.toy_recipe:ToyRecipe")
        )
    return "toy"
