"""Reading image files (PNG, JPEG, WebP, BMP) into ``[-1, 1]`` tensors, with errors that name the file.

One conversion rule for every file: EXIF rotation applied, transparency composited over black, 16-bit
grey scaled to 8 bits, 32-bit float grey (TIFF mode ``F``) scaled from 0..1 (or rounded from 0..255; other
ranges refused), then grey (``L``) or RGB as asked.
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
GREY_MODES = frozenset({"1", "L", "LA", "La", "I", "I;16", "I;16B", "I;16L", "I;16N", "F"})


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


def _float_to_8bit(values: np.ndarray) -> tuple[np.ndarray, str]:
    """A float image as 8-bit levels and the conversion made: 0..1 is scaled, 0..255 rounded, else refused.

    Float files carry no scale of their own; these two are the conventions in use (scientific 0..1, and
    8-bit levels stored as floats). Anything else would need a rule the user has to choose.
    """
    finite = np.isfinite(values)
    if not finite.all():
        raise DataError(f"float image with {int((~finite).sum())} NaN or infinite values")
    low, high = (float(values.min()), float(values.max())) if values.size else (0.0, 0.0)
    if low >= 0 and high <= 1:
        return np.floor(values * 255.0 + 0.5).astype(np.uint8), f"float grey (values {low:.3g}..{high:.3g}, read as 0..1) scaled to 0..255"
    if low >= 0 and high <= 255:
        return np.floor(values + 0.5).astype(np.uint8), f"float grey (values {low:.3g}..{high:.3g}, read as 0..255) rounded"
    raise DataError(f"float values span [{low:.3g}, {high:.3g}]; expected 0..1 or 0..255")


def _to_8bit_array(image: object, channels: int) -> tuple[np.ndarray, str | None]:
    from PIL import Image

    assert isinstance(image, Image.Image)
    notice = None
    if image.mode == "F":
        levels, notice = _float_to_8bit(np.asarray(image, dtype=np.float64))
        image = Image.fromarray(levels, mode="L")
    if image.mode.startswith("I"):  # 16-bit grey: scale, don't clip, to 8 bits
        wide = np.asarray(image, dtype=np.float64)
        image = Image.fromarray(np.clip(wide / 257.0 + 0.5, 0, 255).astype(np.uint8), mode="L")
    has_alpha = image.mode in ("RGBA", "LA", "La", "RGBa", "PA") or "transparency" in image.info
    if has_alpha:
        rgba = np.asarray(image.convert("RGBA"), dtype=np.float32)
        rgb = rgba[..., :3] * (rgba[..., 3:] / 255.0)
        image = Image.fromarray((rgb + 0.5).astype(np.uint8), mode="RGB")
    array = np.asarray(image.convert("L" if channels == 1 else "RGB"), dtype=np.uint8)
    return (array[..., None] if array.ndim == 2 else array), notice


def read_image_file(path: str | Path, channels: int | None = None) -> Tensor:
    """One file → uint8 tensor ``(C, H, W)`` at its native size; ``C`` is the file's own (1 for grey files,
    else 3) unless ``channels`` is given. Keeping the file's own lets :func:`fit_images` report conversions."""
    return _read_image(Path(path), channels)[0]


def _read_image(path: Path, channels: int | None) -> tuple[Tensor, str | None]:
    """:func:`read_image_file` and the one-line notice of a conversion of the file's values (float files)."""
    from PIL import Image, ImageOps

    if channels is not None:
        check_channels(channels)
    if not path.is_file():
        raise DataError(f"image file not found: {path}")
    try:
        with Image.open(path) as image:
            image.load()
            wanted = channels or (1 if image.mode in GREY_MODES else 3)
            array, notice = _to_8bit_array(ImageOps.exif_transpose(image), wanted)
    except unreadable_image_errors() as error:
        raise DataError(f"cannot read image {path}: {error}") from error
    return torch.from_numpy(array.transpose(2, 0, 1).copy()), notice


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
        pixels, read_notice = _read_image(path, None)
        image, fit_notice = fit_images(pixels[None], channels, resolution, fit)
        notices = [n for n in (read_notice, fit_notice) if n]
        if notices and notify is not None:
            notify(f"{path}: {'; '.join(notices)}")
        batch.append(image)
    return torch.cat(batch)
