"""Fashion-MNIST: the full dataset (found on disk, downloaded only on request) and the shipped subset.

Search order for the full set: an explicit ``root`` (or ``root/fashion-mnist``), ``$GENAE_DATA/fashion-mnist``,
``$GENAE_DATA``, then ``/usr/share/datasets/fashion-mnist`` (Debian's ``dataset-fashion-mnist``). Nothing is
fetched unless ``download=True``; then the files go to ``root``, ``$GENAE_DATA/fashion-mnist`` or the genae
cache (``genae.io.cache_root()``, e.g. ``~/.cache/genae/fashion-mnist``), each checked as a well-formed IDX
file of the right shape before it is kept.
"""

from __future__ import annotations

import os
import urllib.error
import urllib.request
from importlib import resources
from pathlib import Path

import numpy as np

from genae.data.errors import DataError
from genae.data.idx import SPLIT_PREFIXES, find_idx_pair, read_idx
from genae.io import atomic_path

CLASSES = (
    "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot",
)
SYSTEM_DIR = Path("/usr/share/datasets/fashion-mnist")
MIRRORS = ("http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",)
SPLIT_SIZES = {"train": 60000, "test": 10000}
MINI_FILE = "fashion_mnist_1000.npz"
MINI_TEST_FRACTION = 0.2  # 800 train / 200 test, stratified: 80 and 20 of each class


def candidate_dirs(root: str | Path | None) -> list[Path]:
    found = []
    if root is not None:
        found += [Path(root), Path(root) / "fashion-mnist"]
    if os.environ.get("GENAE_DATA"):
        found += [Path(os.environ["GENAE_DATA"]) / "fashion-mnist", Path(os.environ["GENAE_DATA"])]
    return [*found, SYSTEM_DIR]


def _complete(directory: Path) -> bool:
    return all(find_idx_pair(directory, prefix) for prefix in SPLIT_PREFIXES.values())


def download_dir(root: str | Path | None) -> Path:
    if root is not None:
        return Path(root)
    if os.environ.get("GENAE_DATA"):
        return Path(os.environ["GENAE_DATA"]) / "fashion-mnist"
    from genae.io import cache_root

    return cache_root() / "fashion-mnist"


def _fetch(name: str, target: Path, expected_shape: tuple[int, ...]) -> None:
    errors = []
    for mirror in MIRRORS:
        url = mirror + name
        try:
            with urllib.request.urlopen(url, timeout=60) as response:
                payload = response.read()
        except (urllib.error.URLError, OSError, ValueError) as error:
            errors.append(f"{url}: {error}")
            continue
        with atomic_path(target) as tmp:
            tmp.write_bytes(payload)
            shape = read_idx(tmp).shape
            if shape != expected_shape:
                raise DataError(f"downloaded {url}: expected shape {expected_shape}, got {shape}")
        return
    raise DataError(f"could not download {name}: " + "; ".join(errors))


def download_fashion_mnist(root: str | Path | None = None) -> Path:
    """Fetch the four ``.gz`` files that are missing in the download folder; returns that folder."""
    target = download_dir(root)
    for split, prefix in SPLIT_PREFIXES.items():
        count = SPLIT_SIZES[split]
        for kind, shape in (("images-idx3", (count, 28, 28)), ("labels-idx1", (count,))):
            name = f"{prefix}-{kind}-ubyte.gz"
            if not (target / name).is_file():
                _fetch(name, target / name, shape)
    return target


def locate_fashion_mnist(root: str | Path | None = None, download: bool = False) -> Path:
    """The first folder of the search order holding all four IDX files (downloading if allowed)."""
    candidates = candidate_dirs(root)
    for directory in candidates:
        if _complete(directory):
            return directory
    if download:
        return download_fashion_mnist(root)
    looked = ", ".join(str(d) for d in candidates)
    raise DataError(
        f"Fashion-MNIST not found (looked in {looked}). Install it with "
        "`apt-get install dataset-fashion-mnist`, set $GENAE_DATA, pass root=, or pass download=True"
    )


def read_mini() -> tuple[np.ndarray, np.ndarray]:
    """The shipped 1,000-image subset of the Fashion-MNIST test split (100 per class)."""
    with resources.files("genae.data.builtin").joinpath(MINI_FILE).open("rb") as handle, np.load(handle) as data:
        return data["images"], data["labels"].astype(np.int64)
