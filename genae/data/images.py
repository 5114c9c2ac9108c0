"""Reading image files (PNG, JPEG, WebP, BMP) into ``[-1, 1]`` tensors, with errors that name the file.

One conversion rule for every file: EXIF rotation applied, transparency composited over black, 16-bit
grey scaled to 8 bits, then grey (``L``) or RGB as asked.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from genae.data.errors import DataError
from genae.data.transforms import check_channels, check_resolution, fit_images

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp", ".bmp")
GREY_MODES = frozenset({"1", "L", "LA", "La", "I", "I;16", "I;16B", "I;16L", "I;16N"})


def is_image_file(path: Path) -> bool:
    return path.is_file() and path.suffix.lower() in IMAGE_SUFFIXES and not path.name.startswith(".")


def find_image_files(folder: Path) -> list[Path]:
    """Every image file below ``folder`` (recursive, hidden files skipped), in a stable sorted order."""
    return sorted(p for p in folder.rglob("*") if is_image_file(p))


def unreadable_image_errors() -> tuple[type[BaseException], ...]:
    """What PIL raises for a file that is not a readable image, including a header claiming so many pixels
    that decoding it would exhaust memory (``DecompressionBombError``, PIL's guard)."""
    from PIL import Image, UnidentifiedImageError

    return (UnidentifiedImageError, Image.DecompressionBombError, OSError, ValueError, SyntaxError)


def probe_mode(path: Path) -> str:
    """Read only the header; raises :class:`DataError` naming the file if it is not a readable image."""
    from PIL import Image

    try:
        with Image.open(path) as image:
            return image.mode
    except unreadable_image_errors() as error:
        raise DataError(f"cannot read image {path}: {error}") from error


def _to_8bit_array(image: object, channels: int) -> np.ndarray:
    from PIL import Image

    assert isinstance(image, Image.Image)
    if image.mode.startswith("I"):  # 16-bit grey: scale, don't clip, to 8 bits
        wide = np.asarray(image, dtype=np.float64)
        image = Image.fromarray(np.clip(wide / 257.0 + 0.5, 0, 255).astype(np.uint8), mode="L")
    has_alpha = image.mode in ("RGBA", "LA", "La", "RGBa", "PA") or "transparency" in image.info
    if has_alpha:
        rgba = np.asarray(image.convert("RGBA"), dtype=np.float32)
        rgb = rgba[..., :3] * (rgba[..., 3:] / 255.0)
        image = Image.fromarray((rgb + 0.5).astype(np.uint8), mode="RGB")
    array = np.asarray(image.convert("L" if channels == 1 else "RGB"), dtype=np.uint8)
    return array[..., None] if array.ndim == 2 else array


def read_image_file(path: str | Path, channels: int | None = None) -> Tensor:
    """One file → uint8 tensor ``(C, H, W)`` at its native size; ``C`` is the file's own (1 for grey files,
    else 3) unless ``channels`` is given. Keeping the file's own lets :func:`fit_images` report conversions."""
    from PIL import Image, ImageOps

    path = Path(path)
    if channels is not None:
        check_channels(channels)
    if not path.is_file():
        raise DataError(f"image file not found: {path}")
    try:
        with Image.open(path) as image:
            image.load()
            wanted = channels or (1 if image.mode in GREY_MODES else 3)
            array = _to_8bit_array(ImageOps.exif_transpose(image), wanted)
    except unreadable_image_errors() as error:
        raise DataError(f"cannot read image {path}: {error}") from error
    return torch.from_numpy(array.transpose(2, 0, 1).copy())


def load_image_files(
    paths: Iterable[str | Path],
    channels: int,
    resolution: int,
    fit: str | None = None,
    notify: Callable[[str], None] | None = None,
) -> Tensor:
    """Files → one float batch ``(N, channels, resolution, resolution)`` in ``[-1, 1]``.

    ``notify`` (e.g. ``click.echo``) receives ``"<file>: <what changed>"`` for every file that had to be
    converted, so a user learns that their photo was cropped rather than finding out from the output.
    """
    paths = [Path(paths)] if isinstance(paths, (str, Path)) else [Path(p) for p in paths]
    if not paths:
        raise DataError("paths: expected at least one image file, got none")
    check_resolution(resolution)
    batch = []
    for path in paths:
        image, notice = fit_images(read_image_file(path)[None], channels, resolution, fit)
        if notice and notify is not None:
            notify(f"{path}: {notice}")
        batch.append(image)
    return torch.cat(batch)
