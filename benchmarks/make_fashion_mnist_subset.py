"""Make ``genae/data/builtin/fashion_mnist_1000.npz``: 100 images of each class from the Fashion-MNIST test split.

The choice is seeded (seed 0) and kept in test-split order; ``source_indices`` records which test images
were taken, so the subset can be traced back. Usage::

    python benchmarks/make_fashion_mnist_subset.py [--root DIR] [--out PATH] [--per-class 100] [--seed 0]
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from genae.data.fashion import MINI_FILE, locate_fashion_mnist
from genae.data.idx import read_idx_folder
from genae.io import atomic_path

DEFAULT_OUT = Path(__file__).resolve().parents[1] / "genae" / "data" / "builtin" / MINI_FILE


def choose(labels: np.ndarray, per_class: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    picks = [rng.choice(np.flatnonzero(labels == c), per_class, replace=False) for c in np.unique(labels)]
    return np.sort(np.concatenate(picks))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", default=None, help="folder holding the Fashion-MNIST IDX files")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    parser.add_argument("--per-class", type=int, default=100)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    directory = locate_fashion_mnist(args.root)
    images, labels = read_idx_folder(directory, "test")
    chosen = choose(labels, args.per_class, args.seed)
    with atomic_path(args.out) as tmp, open(tmp, "wb") as handle:
        np.savez_compressed(
            handle,
            images=images[chosen],
            labels=labels[chosen].astype(np.uint8),
            source_indices=chosen.astype(np.int32),
        )
    args.out.chmod(0o644)  # package data: readable by everyone (atomic_path's temporary file is 0600)
    print(f"wrote {args.out}: {len(chosen)} images from {directory} (test split, seed {args.seed}), "
          f"{args.out.stat().st_size / 1024:.0f} KiB")


if __name__ == "__main__":
    main()
