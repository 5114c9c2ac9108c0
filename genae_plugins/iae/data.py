"""CycleIAE's domain B: images the recipe draws beside the trainer's stream (domain A).

They are loaded once by the recipe from a genae dataset named in its options, so a run's options record
exactly which images were used (and resuming rebuilds the same ones). Labelled subsets of the
semi-supervised IAE come from :func:`genae.metrics.clustering.labelled_subset`, shared with the probes.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor
from torch.nn import functional as F

from genae.data import open_dataset

#: The ``domain_b`` recipe option of ``cycle-iae``: which images, from which split, made into what.
DOMAIN_B_KEYS = {"data", "split", "start", "stop", "transform"}
TRANSFORMS = ("edges", "none")


def edge_maps(images: Tensor, threshold: float = 0.25) -> Tensor:
    """Binary edge maps of images in ``[-1, 1]``: Sobel gradient magnitude above ``threshold`` (relative
    to each image's maximum) is an edge (+1), the rest background (-1). Grey is the mean over channels."""
    if not isinstance(images, Tensor) or images.dim() != 4:
        raise ValueError(f"images: expected a (B, C, H, W) tensor, got {getattr(images, 'shape', type(images).__name__)}")
    grey = images.float().mean(1, keepdim=True)
    sobel = torch.tensor([[-1.0, 0.0, 1.0], [-2.0, 0.0, 2.0], [-1.0, 0.0, 1.0]], device=images.device)
    kernels = torch.stack([sobel, sobel.T])[:, None]
    gradient = F.conv2d(F.pad(grey, (1, 1, 1, 1), mode="replicate"), kernels).pow(2).sum(1, keepdim=True).sqrt()
    peak = gradient.flatten(1).amax(1).clamp_min(1e-6)[:, None, None, None]
    edges = (gradient / peak > threshold).float() * 2 - 1
    return edges.expand(-1, images.shape[1], -1, -1).contiguous()


def domain_images(spec: dict[str, Any], resolution: int, channels: int) -> Tensor:
    """The domain-B images a ``domain_b`` option names, e.g.
    ``{"data": "fashion-mnist", "split": "train", "start": 30000, "stop": 40000, "transform": "edges"}``."""
    if not isinstance(spec, dict) or set(spec) != DOMAIN_B_KEYS:
        raise ValueError(f"domain_b: expected a dict with keys {sorted(DOMAIN_B_KEYS)}, got {spec!r}")
    if spec["transform"] not in TRANSFORMS:
        raise ValueError(f"domain_b.transform: expected one of {TRANSFORMS}, got {spec['transform']!r}")
    start, stop = spec["start"], spec["stop"]
    if not (isinstance(start, int) and isinstance(stop, int) and 0 <= start < stop):
        raise ValueError(f"domain_b.start/stop: expected ints with 0 <= start < stop, got {start!r}, {stop!r}")
    dataset = open_dataset(spec["data"], split=spec["split"], resolution=resolution, channels=channels)
    if stop > len(dataset):
        raise ValueError(f"domain_b.stop: {stop} is past the {len(dataset)} images of {spec['data']} {spec['split']}")
    images = torch.stack([dataset[i][0] for i in range(start, stop)])
    return edge_maps(images) if spec["transform"] == "edges" else images
