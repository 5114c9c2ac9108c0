"""What ``genae demo`` shows: one model's grids, or a tour of each bundled family at what it does best.

The tour picks, per family, what its bundled model is good at (measured in benchmarks/results/): the
automodulator reconstructs, mixes styles and samples garments from its fitted prior (sample FID[fm] 51 at
N = 10,000, fitted-prior-fashion-mnist.md), LIA samples garments from its own prior (87, lia-bench.md), the
clustering IAE groups garments without labels. Everything runs on the shipped test images in seconds.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

#: (file prefix, bundled model, what to show) for the tour, in the order it runs.
TOUR: tuple[tuple[str, str, tuple[str, ...]], ...] = (
    ("automodulator", "automodulator-fashion-mnist-32", ("reconstructions", "samples", "mixing")),
    ("lia", "lia-fashion-mnist-32", ("samples",)),
    ("iae", "iae-cluster-fashion-mnist-32", ("clusters",)),
)
PARTS = ("reconstructions", "samples", "mixing", "clusters")
#: Rows (largest clusters first) and images per row of the clusters grid.
CLUSTER_ROWS, CLUSTER_COLUMNS = 8, 10


def showcase(model: Any, images: Tensor, labels: Sequence[int], out: Path, parts: Sequence[str],
             echo: Callable[[str], None], prefix: str = "") -> list[Path]:
    """Write the grids ``parts`` names for ``model`` into ``out`` (file names start with ``prefix``)."""
    from genae.viz import save_image_grid, style_mixing_matrix

    written = []
    with torch.no_grad():
        if "reconstructions" in parts:
            recon = model.reconstruct(images[:16])
            mse = float((recon - images[:16]).square().mean())
            baseline = float((images[:16].mean(0, keepdim=True) - images[:16]).square().mean())
            echo(f"reconstruction MSE on 16 shipped test images: {mse:.4f} (mean-image baseline {baseline:.4f})")
            written.append(save_image_grid(torch.cat([images[:8], recon[:8]]), out / f"{prefix}reconstructions.png",
                                           nrow=8, scale=4))
        if "samples" in parts:
            samples = model.sample(16, generator=torch.Generator().manual_seed(0))
            written.append(save_image_grid(samples, out / f"{prefix}samples.png", nrow=8, scale=4))
        if "mixing" in parts and model.is_style_based:
            for name in ("coarse", "fine"):
                matrix = style_mixing_matrix(model, images[8:12], images[12:16], name)
                written.append(save_image_grid(matrix, out / f"{prefix}mixing-{name}.png", nrow=5, scale=4))
            echo(f"{prefix}mixing-<range>.png: row images give the <range> styles, column images give all the others")
        if "clusters" in parts and model.capabilities().get("classify"):
            written.append(_clusters(model, images, labels, out / f"{prefix}clusters.png", echo))
    return written


def _clusters(model: Any, images: Tensor, labels: Sequence[int], path: Path, echo: Callable[[str], None]) -> Path:
    """One row per cluster (the largest first), its members left to right, blanks where a cluster is short."""
    from genae.metrics.clustering import cluster_error
    from genae.viz import save_image_grid

    assignment = model.classify(images)
    sizes = torch.bincount(assignment, minlength=model.num_categories)
    rows = []
    for cluster in sizes.argsort(descending=True)[:CLUSTER_ROWS].tolist():
        members = images[assignment == cluster][:CLUSTER_COLUMNS]
        blank = -torch.ones(CLUSTER_COLUMNS - members.shape[0], *images.shape[1:], dtype=images.dtype)
        rows.append(torch.cat([members, blank]))
    error = cluster_error(model, images, list(labels))
    echo(f"clusters of {images.shape[0]} shipped test images, trained without labels: {error['clusters_used']} of "
         f"{error['K']} clusters used, cluster error {error['value']:.3f} (each cluster's majority label); "
         f"{path.name}: one cluster per row")
    return save_image_grid(torch.cat(rows), path, nrow=CLUSTER_COLUMNS, scale=3)


def shipped_test_images(model: Any) -> tuple[Tensor, list[int]]:
    """The 200 shipped test images in the model's shape and their labels, in a seeded order (seed 0)."""
    from genae.data import open_dataset

    data = open_dataset("fashion-mnist-mini", split="test", resolution=model.resolution, channels=model.channels)
    order = torch.randperm(len(data), generator=torch.Generator().manual_seed(0)).tolist()
    images = torch.stack([data[i][0] for i in order]).to(model.device, model.dtype)
    return images, [int(data.labels[i]) for i in order]


def tour(out: Path, device: str, echo: Callable[[str], None]) -> list[Path]:
    """Every family of :data:`TOUR` on the shipped test images; returns the files written."""
    from genae.factory import load

    written = []
    for prefix, name, parts in TOUR:
        model = load(name, device=device)
        echo(f"{name} ({model.architecture}): {', '.join(parts)}")
        images, labels = shipped_test_images(model)
        written += showcase(model, images, labels, out, parts, echo, prefix=f"{prefix}-")
    return written

