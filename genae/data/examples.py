"""``example_images``: a seeded batch of the Fashion-MNIST test images that ship inside genae.

Docs, notebooks and plugin tests need real images in one line, offline, without a dataset on disk.
"""

from __future__ import annotations

import torch

from genae.data.catalog import open_dataset


def example_images(n: int = 8, *, resolution: int = 32, channels: int = 1, seed: int = 0) -> torch.Tensor:
    """``n`` shipped test images as a ``(n, channels, resolution, resolution)`` batch in ``[-1, 1]``.

    Drawn without replacement from the 200-image test split of ``fashion-mnist-mini`` in an order seeded by
    ``seed``, so the same arguments always give the same batch.
    """
    dataset = open_dataset("fashion-mnist-mini", split="test", resolution=resolution, channels=channels)
    if not isinstance(n, int) or isinstance(n, bool) or not 1 <= n <= len(dataset):
        raise ValueError(f"n: expected an int between 1 and {len(dataset)}, got {n!r}")
    order = torch.randperm(len(dataset), generator=torch.Generator().manual_seed(seed))[:n]
    return torch.stack([dataset[int(i)][0] for i in order])
