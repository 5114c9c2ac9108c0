"""Stored real-image statistics for FID/KID: one ``.npz`` file, written once and reused across runs.

The format is clean-fid's and pytorch-fid's (``mu``, ``sigma``) plus, when known, the ``features``
themselves (KID, precision/recall and density/coverage need them), the ``indices`` of the images of the
split they came from, and ``meta``: a JSON string naming the dataset, split, resolution, channels, the
extractor with its weights' sha256 and preprocessing rule, and N. A file with only ``mu``/``sigma`` (from
another tool) serves FID alone. Files are read with ``allow_pickle=False``: they cannot carry code.
"""

from __future__ import annotations

import json
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor

from genae.metrics.frechet import FeatureStats

FORMAT = "genae-reference/1"


@dataclass(frozen=True)
class Reference:
    """Real-image statistics (always) and features (when stored) with the facts that produced them."""

    stats: FeatureStats
    features: Tensor | None
    meta: dict[str, Any] = field(default_factory=dict)
    indices: np.ndarray | None = None

    def check_extractor(self, info: dict[str, Any], where: str) -> None:
        """Refuse a reference computed with another extractor (or other weights) than ``info`` describes."""
        dim = int(self.stats.mean.shape[0])
        if dim != info["feature_dim"]:
            raise ValueError(f"{where}: holds {dim}-d features but {info['extractor']} gives {info['feature_dim']}-d")
        stored = self.meta.get("extractor") or {}
        for key in ("extractor", "weights_sha256"):
            if key in stored and stored[key] != info[key]:
                raise ValueError(f"{where}: computed with {key} {stored[key]!r}, this run uses {info[key]!r}")


def save_reference(
    path: str | Path, features: Tensor, meta: dict[str, Any], indices: np.ndarray | None = None,
) -> Path:
    """Write features, their mean/covariance and ``meta`` (JSON) to ``path`` atomically; returns the path."""
    from genae.io import atomic_path

    stats = FeatureStats.from_features(features, "features")
    arrays: dict[str, np.ndarray] = {
        "mu": stats.mean.numpy(), "sigma": stats.cov.numpy(), "features": features.detach().cpu().float().numpy(),
        "meta": np.array(json.dumps({"format": FORMAT, "n": stats.n, **meta}, sort_keys=True, default=str)),
    }
    if indices is not None:
        arrays["indices"] = np.asarray(indices, dtype=np.int64)
    path = Path(path)
    with atomic_path(path) as tmp, open(tmp, "wb") as handle:
        np.savez(handle, **arrays)
    return path


def load_reference(path: str | Path) -> Reference:
    """Read a reference ``.npz``; a missing, unreadable or inconsistent file is a one-line error naming it."""
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"reference {path}: no such file")
    try:
        with np.load(path, allow_pickle=False) as data:
            arrays = {key: data[key] for key in data.files}
    except (OSError, ValueError, zipfile.BadZipFile, EOFError) as error:
        raise ValueError(f"reference {path}: not a readable .npz file ({error})") from None
    if "features" not in arrays and not {"mu", "sigma"} <= set(arrays):
        raise ValueError(f"reference {path}: expected 'mu' and 'sigma' or 'features' arrays, found {sorted(arrays)}")
    try:
        meta = json.loads(str(arrays["meta"])) if "meta" in arrays else {}
    except json.JSONDecodeError:
        raise ValueError(f"reference {path}: its 'meta' entry is not JSON") from None
    features = torch.from_numpy(arrays["features"]) if "features" in arrays else None
    try:
        if features is not None:
            stats = FeatureStats.from_features(features, f"reference {path} features")
        else:
            mu, sigma = (torch.from_numpy(np.asarray(arrays[k], dtype=np.float64)) for k in ("mu", "sigma"))
            if mu.dim() != 1 or sigma.shape != (len(mu), len(mu)):
                raise ValueError(f"mu {tuple(mu.shape)} and sigma {tuple(sigma.shape)} do not fit (d,) and (d, d)")
            n = int(arrays["n"]) if "n" in arrays else meta.get("n")
            if n is None:
                raise ValueError("has mu/sigma but no sample count: add an 'n' array (FID needs N to judge bias)")
            stats = FeatureStats(mu, sigma, n)
    except ValueError as error:
        raise ValueError(f"reference {path}: {error}") from None
    return Reference(stats, features, meta, arrays.get("indices"))
