"""Finding pretrained weight files offline, and fingerprinting them for reports."""

from __future__ import annotations

import functools
import hashlib
from pathlib import Path


class MissingWeightsError(FileNotFoundError):
    """A pretrained network's weights file is not on this machine (and nothing here downloads it)."""


def hub_checkpoint_dir() -> Path:
    """``$TORCH_HOME/hub/checkpoints`` (torch's own download cache), resolved the way torch does."""
    import torch

    return Path(torch.hub.get_dir()) / "checkpoints"


def find_weights_file(filename: str, weights_dir: str | Path | None, purpose: str, url: str = "") -> Path:
    """Return the path of ``filename`` in ``weights_dir`` or the torch hub cache, or explain where to put it."""
    places = ([Path(weights_dir)] if weights_dir is not None else []) + [hub_checkpoint_dir()]
    for place in places:
        if (place / filename).is_file():
            return place / filename
    where = " or ".join(str(p) for p in places)
    source = f" (published at {url})" if url else ""
    raise MissingWeightsError(
        f"{purpose} needs the weights file {filename!r}{source}, which is not on this machine. "
        f"Place it in {where}, or pass weights_dir= / --weights-dir pointing to a folder that holds it."
    )


@functools.lru_cache(maxsize=32)
def sha256_file(path: str | Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()
