"""A folder of image files, searched recursively; first-level sub-folders name the classes."""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from torch import Tensor

from genae.data.base import GenaeDataset, split_indices, split_note
from genae.data.errors import DataError
from genae.data.images import GREY_MODES, IMAGE_SUFFIXES, find_image_files, probe_mode, read_image_file
from genae.data.transforms import describe_fit, fit_images

ON_ERROR = ("raise", "skip")


class ImageFolderDataset(GenaeDataset):
    """Decodes each file when its item is asked for; nothing but the file list is held in memory."""

    def __init__(
        self,
        files: Sequence[Path],
        labels: np.ndarray,
        *,
        root: Path,
        channels: int,
        resolution: int,
        fit: str,
        description: str,
        flip_pairs: bool = False,
        classes: Sequence[str] = (),
        skipped: Sequence[tuple[Path, str]] = (),
    ) -> None:
        super().__init__()
        self.files, self.labels, self.root = list(files), np.asarray(labels, dtype=np.int64), root
        self.channels, self.resolution, self.fit = channels, resolution, fit
        self.description, self.flip_pairs, self.classes = description, flip_pairs, tuple(classes)
        self.skipped = list(skipped)

    def __len__(self) -> int:
        return len(self.files)

    def load(self, index: int) -> tuple[Tensor, int]:
        image = read_image_file(self.files[index])
        image, _ = fit_images(image[None], self.channels, self.resolution, self.fit)
        return image[0], int(self.labels[index])

    def hash_parts(self) -> Sequence[bytes | str]:
        parts: list[bytes | str] = [self.fit]
        for path in self.files:
            parts += [path.relative_to(self.root).as_posix(), path.read_bytes()]
        return parts


def _class_labels(files: Sequence[Path], roots: Sequence[Path]) -> tuple[np.ndarray, tuple[str, ...]]:
    """Labels from first-level sub-folders (of whichever root holds the file) when every image sits in
    one; otherwise all ``-1``."""
    tops = [next(path.relative_to(r).parts for r in roots if path.is_relative_to(r)) for path in files]
    if not all(len(parts) >= 2 for parts in tops):
        return np.full(len(files), -1, dtype=np.int64), ()
    classes = tuple(sorted({parts[0] for parts in tops}))
    index = {name: i for i, name in enumerate(classes)}
    return np.array([index[parts[0]] for parts in tops], dtype=np.int64), classes


def _check_files(files: list[Path], on_error: str) -> tuple[list[Path], list[str], list[tuple[Path, str]]]:
    """Keep readable files and their PIL modes. ``skip`` decodes every file now, so a truncated one is
    caught here and counted; ``raise`` reads headers only and reports a bad body when it is loaded."""
    kept, modes, skipped = [], [], []
    for path in files:
        try:
            mode = probe_mode(path)
            if on_error == "skip":
                read_image_file(path)
        except DataError as error:
            if on_error == "raise":
                raise
            skipped.append((path, str(error)))
            continue
        kept.append(path)
        modes.append(mode)
    return kept, modes, skipped


def open_image_folder(
    folder: Path,
    *,
    split: str,
    resolution: int,
    channels: int | None,
    fit: str,
    flip_pairs: bool,
    on_error: str,
    seed: int,
    test_fraction: float,
    limit: int | None,
) -> ImageFolderDataset:
    if on_error not in ON_ERROR:
        raise DataError(f"on_error: expected one of {', '.join(ON_ERROR)}, got {on_error!r}")
    natural = (folder / "train").is_dir() and (folder / "test").is_dir()
    roots = [folder / part for part in ("train", "test") if split in (part, "all")] if natural else [folder]
    files = [path for root in roots for path in find_image_files(root)]
    if not files:
        raise DataError(f"no image files ({', '.join(IMAGE_SUFFIXES)}) found under {folder}")
    files, modes, skipped = _check_files(files, on_error)
    if skipped:
        reason = skipped[0][1]
        if not files:
            raise DataError(f"all {len(skipped)} image files under {folder} are unreadable, e.g. {reason}")
        warnings.warn(f"skipped {len(skipped)} unreadable image file(s) under {folder}, e.g. {reason}", stacklevel=3)
    if channels is None:
        channels = 1 if all(mode in GREY_MODES for mode in modes) else 3
    labels, classes = _class_labels(files, roots)
    if natural:
        chosen = np.arange(len(files))
        note = "its train/ and test/ sub-folders" if split == "all" else f"its {split}/ sub-folder"
    else:
        chosen = split_indices(labels, split, seed, test_fraction)
        note = split_note(split, seed, test_fraction, len(files))
    chosen = chosen[:limit]
    label_note = f"labels from {len(classes)} class sub-folders" if classes else "no labels (-1)"
    skip_note = f"; skipped {len(skipped)} unreadable file(s)" if skipped else ""
    description = (
        f"image folder {folder}: {len(chosen)} images, {note}; {channels} channel(s); "
        f"{describe_fit(fit, resolution)}; {label_note}{skip_note}"
    )
    return ImageFolderDataset(
        [files[i] for i in chosen],
        labels[chosen],
        root=folder,
        channels=channels,
        resolution=resolution,
        fit=fit,
        description=description,
        flip_pairs=flip_pairs,
        classes=classes,
        skipped=skipped,
    )
