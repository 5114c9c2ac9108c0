"""MNIST-format IDX files (``.gz`` or raw), read whole with every header field checked.

Layout: two zero bytes, a type code, the number of dimensions, one big-endian uint32 per dimension, then
the data, big-endian. A wrong magic number, a truncated body or trailing bytes is an error naming the file.
"""

from __future__ import annotations

import gzip
import math
import zlib
from pathlib import Path

import numpy as np

from genae.data.errors import DataError

SPLIT_PREFIXES = {"train": "train", "test": "t10k"}  # MNIST's file names for its two splits
IDX_TYPES = {0x08: ">u1", 0x09: ">i1", 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}


def _read_bytes(path: Path) -> bytes:
    if not path.is_file():
        raise DataError(f"IDX file not found: {path}")
    raw = path.read_bytes()
    if raw[:2] != b"\x1f\x8b":
        return raw
    try:
        return gzip.decompress(raw)
    except (EOFError, OSError, zlib.error) as error:
        raise DataError(f"IDX file {path}: corrupt or truncated gzip data ({error})") from error


def read_idx(path: str | Path) -> np.ndarray:
    """The array stored in an IDX file, in native byte order."""
    path = Path(path)
    data = _read_bytes(path)
    if len(data) < 4 or data[:2] != b"\x00\x00" or data[2] not in IDX_TYPES:
        raise DataError(
            f"IDX file {path}: wrong magic number {data[:4].hex() or '(empty file)'}; expected 0000TTNN "
            f"with type TT in {{{', '.join(f'{t:02x}' for t in IDX_TYPES)}}}"
        )
    ndim = data[3]
    if ndim == 0:
        raise DataError(f"IDX file {path}: header declares 0 dimensions")
    header_end = 4 + 4 * ndim
    if len(data) < header_end:
        raise DataError(f"IDX file {path}: truncated header ({len(data)} bytes, need {header_end})")
    shape = tuple(int(d) for d in np.frombuffer(data, ">u4", count=ndim, offset=4))
    dtype = np.dtype(IDX_TYPES[data[2]])
    expected = math.prod(shape) * dtype.itemsize  # exact: numpy's int64 product wraps for huge headers
    body = len(data) - header_end
    if body < expected:
        raise DataError(
            f"IDX file {path}: truncated: shape {shape} needs {expected} data bytes, found {body}"
        )
    if body > expected:
        raise DataError(f"IDX file {path}: {body - expected} unexpected bytes after the data of shape {shape}")
    array = np.frombuffer(data, dtype, offset=header_end).reshape(shape)
    return array.astype(dtype.newbyteorder("="))


def read_idx_images(path: str | Path) -> np.ndarray:
    """Images as uint8 ``(N, H, W)`` or ``(N, H, W, C)`` with C in {1, 3}."""
    array = read_idx(path)
    if array.dtype != np.uint8:
        raise DataError(f"IDX images {path}: expected unsigned bytes (type 08), got {array.dtype}")
    if array.ndim == 3 or (array.ndim == 4 and array.shape[-1] in (1, 3)):
        if array.shape[0] == 0:
            raise DataError(f"IDX images {path}: holds no images")
        return array
    raise DataError(f"IDX images {path}: expected shape (N, H, W) or (N, H, W, 1|3), got {array.shape}")


def read_idx_labels(path: str | Path, count: int) -> np.ndarray:
    """Labels as int64 ``(count,)``; the count must match the images they belong to."""
    array = read_idx(path)
    if array.ndim != 1 or array.dtype.kind not in "iu":
        raise DataError(f"IDX labels {path}: expected a 1-D integer array, got {array.dtype} {array.shape}")
    if len(array) != count:
        raise DataError(f"IDX labels {path}: {len(array)} labels for {count} images")
    return array.astype(np.int64)


def labels_path_for(images_path: Path) -> Path | None:
    """``train-images-idx3-ubyte.gz`` → ``train-labels-idx1-ubyte.gz`` beside it, if that file exists."""
    name = images_path.name
    if "images" not in name:
        return None
    candidate = images_path.with_name(name.replace("images", "labels").replace("idx3", "idx1"))
    return candidate if candidate.is_file() else None


def find_idx_pair(directory: Path, prefix: str) -> tuple[Path, Path] | None:
    """``{prefix}-images-idx3-ubyte[.gz]`` and its labels file in ``directory``, if both are there."""
    for suffix in (".gz", ""):
        images = directory / f"{prefix}-images-idx3-ubyte{suffix}"
        labels = directory / f"{prefix}-labels-idx1-ubyte{suffix}"
        if images.is_file() and labels.is_file():
            return images, labels
    return None


def read_idx_folder(directory: Path, split: str) -> tuple[np.ndarray, np.ndarray]:
    """Images and labels of ``split`` from MNIST-style ``train-*``/``t10k-*`` files (``all`` = train, test)."""
    images, labels = [], []
    for part in ("train", "test") if split == "all" else (split,):
        pair = find_idx_pair(directory, SPLIT_PREFIXES[part])
        if pair is None:
            raise DataError(
                f"{directory}: no {SPLIT_PREFIXES[part]}-images-idx3-ubyte[.gz] with its labels file for split {part!r}"
            )
        images.append(read_idx_images(pair[0]))
        labels.append(read_idx_labels(pair[1], len(images[-1])))
    return np.concatenate(images), np.concatenate(labels)
