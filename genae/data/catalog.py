"""``open_dataset``: one entry point for named datasets, image folders and IDX files."""

from __future__ import annotations

import difflib
from pathlib import Path

import numpy as np

from genae.data import fashion
from genae.data.base import SPLITS, ArrayDataset, GenaeDataset, split_indices, split_note
from genae.data.errors import DataError
from genae.data.folder import ON_ERROR, open_image_folder
from genae.data.idx import (
    SPLIT_PREFIXES,
    find_idx_pair,
    labels_path_for,
    read_idx_folder,
    read_idx_images,
    read_idx_labels,
)
from genae.data.scales import ScalesDataset
from genae.data.transforms import check_channels, check_fit, check_resolution, default_fit, describe_fit

DATASETS = {
    "fashion-mnist": "Fashion-MNIST, 60,000 train / 10,000 test grey 28x28 images (found on disk or downloaded)",
    "fashion-mnist-mini": "1,000 Fashion-MNIST test images shipped with genae; seeded stratified 800/200 split",
    "scales": "synthetic objects with known coarse (shape, position, size) and fine (colour, texture) factors",
}
DEFAULT_TEST_FRACTION = 0.1
SOURCE_OPTIONS = {  # the optional arguments of open_dataset that mean something for each source (None: a path)
    "fashion-mnist": {"root", "download", "fit"},
    "fashion-mnist-mini": {"test_fraction", "fit"},
    "scales": {"size"},
    None: {"test_fraction", "fit"},
}


def _normalise(name: str) -> str:
    return name.strip().lower().replace("_", "-")


def _array_dataset(
    images: np.ndarray,
    labels: np.ndarray,
    *,
    source: str,
    note: str,
    resolution: int,
    channels: int | None,
    fit: str | None,
    flip_pairs: bool,
    classes: tuple[str, ...] = (),
) -> ArrayDataset:
    native = 1 if images.ndim == 3 else images.shape[-1]
    channels = native if channels is None else channels
    height, width = images.shape[1:3]
    fit = default_fit(height, width, resolution) if fit is None else fit
    if fit == "crop" and min(height, width) < resolution:
        raise DataError(f"{source}: fit='crop' needs images of at least {resolution}x{resolution}, got {height}x{width}")
    kind = "grey" if native == 1 else "RGB"
    conversion = "" if channels == native else f", converted to {channels} channel(s)"
    description = (
        f"{source}: {len(images)} images ({note}); native {height}x{width} {kind}{conversion}; "
        f"{describe_fit(fit, resolution)}"
    )
    return ArrayDataset(
        images, labels, channels=channels, resolution=resolution, fit=fit, description=description,
        flip_pairs=flip_pairs, classes=classes,
    )


def _open_idx(path: Path, split: str, seed: int, test_fraction: float) -> tuple[np.ndarray, np.ndarray, str, str]:
    """Images, labels, source and split note from an IDX images file or a folder of MNIST-format files."""
    if path.is_dir():
        images, labels = read_idx_folder(path, split)
        return images, labels, f"IDX files in {path}", f"{split} files"
    images = read_idx_images(path)
    labels_path = labels_path_for(path)
    if labels_path is None:
        labels = np.full(len(images), -1, dtype=np.int64)
    else:
        labels = read_idx_labels(labels_path, len(images))
    chosen = split_indices(labels, split, seed, test_fraction)
    source = f"IDX file {path}" + (f" with labels {labels_path.name}" if labels_path else " (no labels file)")
    return images[chosen], labels[chosen], source, split_note(split, seed, test_fraction, len(images))


def _looks_like_idx(path: Path) -> bool:
    if path.is_dir():
        return any(find_idx_pair(path, prefix) for prefix in SPLIT_PREFIXES.values())
    return "idx" in path.name.lower() or path.suffix.lower() in (".gz", ".ubyte")


def _unknown(name: str) -> DataError:
    close = difflib.get_close_matches(_normalise(name), list(DATASETS), n=3, cutoff=0.5)
    hint = f" Did you mean {' or '.join(repr(c) for c in close)}?" if close else ""
    known = ", ".join(DATASETS)
    return DataError(f"unknown dataset {name!r}: not a known name ({known}) nor an existing file or folder.{hint}")


def open_dataset(
    name_or_path: str | Path,
    split: str = "train",
    resolution: int = 32,
    channels: int | None = None,
    fit: str | None = None,
    flip_pairs: bool = False,
    on_error: str = "raise",
    seed: int = 0,
    root: str | Path | None = None,
    download: bool = False,
    limit: int | None = None,
    test_fraction: float | None = None,
    size: int | None = None,
) -> GenaeDataset:
    """Open a dataset of ``(image, label)`` pairs, images float ``(C, resolution, resolution)`` in ``[-1, 1]``.

    ``name_or_path``: ``"fashion-mnist"``, ``"fashion-mnist-mini"``, ``"scales"``, or a path to an image
    folder (recursive; class sub-folders give labels), an IDX images file (labels found beside it) or a
    folder of MNIST-format IDX files. ``split``: ``"train"``, ``"test"`` or ``"all"``; sources without their
    own split get a seeded, label-stratified one (``test_fraction``, default 0.1; 0.2 for the mini set).
    ``fit``: ``"resize"``, ``"crop"`` or ``"pad"``; default pads when ``resolution`` is the next power of two
    above the native size (Fashion-MNIST 28 → 32) and resizes otherwise. ``channels``: 1 or 3, default the
    source's own. ``flip_pairs`` yields ``((image, mirrored), label)``. ``on_error="skip"`` skips and counts
    unreadable files of a folder instead of raising. ``root``/``download`` apply to ``"fashion-mnist"``,
    ``size`` to ``"scales"``; ``limit`` keeps the first items of the split. A string without ``/`` that is a
    known name opens that dataset, so pass ``"./scales"`` or a ``Path`` for a folder of that name.
    """
    resolution = check_resolution(resolution)
    channels = None if channels is None else check_channels(channels)
    fit = None if fit is None else check_fit(fit)
    if split not in SPLITS:
        raise DataError(f"split: expected one of {', '.join(SPLITS)}, got {split!r}")
    if on_error not in ON_ERROR:
        raise DataError(f"on_error: expected one of {', '.join(ON_ERROR)}, got {on_error!r}")
    if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int) or limit < 1):
        raise DataError(f"limit: expected a positive int or None, got {limit!r}")
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise DataError(f"seed: expected an int, got {seed!r}")
    if not isinstance(name_or_path, (str, Path)):
        raise DataError(f"name_or_path: expected a dataset name or a path, got {type(name_or_path).__name__}")

    is_name = isinstance(name_or_path, str) and "/" not in name_or_path and _normalise(name_or_path) in DATASETS
    name = _normalise(str(name_or_path)) if is_name else None
    given = {"root": root is not None, "download": download, "size": size is not None,
             "test_fraction": test_fraction is not None, "fit": fit is not None}
    stray = [option for option, used in given.items() if used and option not in SOURCE_OPTIONS[name]]
    if stray:
        raise DataError(f"{name and repr(name) or 'a path'} does not take {', '.join(stray)}")

    common = {"resolution": resolution, "channels": channels, "fit": fit, "flip_pairs": flip_pairs}
    if name == "scales":
        return ScalesDataset(split, size, resolution, channels or 3, seed, flip_pairs, limit)
    if name == "fashion-mnist":
        directory = fashion.locate_fashion_mnist(root, download)
        images, labels = read_idx_folder(directory, split)
        return _array_dataset(
            images[:limit], labels[:limit], source=f"Fashion-MNIST from {directory}",
            note=f"official {split} split" if split != "all" else "official train then test", classes=fashion.CLASSES,
            **common,
        )
    if name == "fashion-mnist-mini":
        images, labels = fashion.read_mini()
        fraction = fashion.MINI_TEST_FRACTION if test_fraction is None else test_fraction
        chosen = split_indices(labels, split, seed, fraction)[:limit]
        return _array_dataset(
            images[chosen], labels[chosen], source="fashion-mnist-mini (genae's shipped Fashion-MNIST subset)",
            note=split_note(split, seed, fraction, len(images)), classes=fashion.CLASSES, **common,
        )

    path = Path(name_or_path)
    if not path.exists():
        raise _unknown(str(name_or_path))
    fraction = DEFAULT_TEST_FRACTION if test_fraction is None else test_fraction
    if _looks_like_idx(path):
        images, labels, source, note = _open_idx(path, split, seed, fraction)
        return _array_dataset(images[:limit], labels[:limit], source=source, note=note, **common)
    if not path.is_dir():
        raise DataError(f"{path}: expected an image folder, an IDX file or a folder of IDX files")
    return open_image_folder(
        path, split=split, resolution=resolution, channels=channels, fit=fit or "resize", flip_pairs=flip_pairs,
        on_error=on_error, seed=seed, test_fraction=fraction, limit=limit,
    )
