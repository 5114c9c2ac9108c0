"""Bring any image batch to the channels and power-of-two resolution a model expects.

Every loader in ``genae.data`` ends here, so user files, IDX digits and folders are converted by one rule,
and the rule can be written into a dataset's description (and from there into a model card).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from genae.data.errors import DataError
from genae.interfaces import IMAGE_RANGE_SLACK

FITS = ("resize", "crop", "pad")
BACKGROUND = -1.0  # the value padding adds: black, which is Fashion-MNIST's own background
LUMA = (0.299, 0.587, 0.114)  # ITU-R BT.601, what PIL's convert("L") uses too

FIT_RULES = {
    "resize": "shorter side resized to {r} (antialiased bilinear), then centre-cropped to {r}x{r}",
    "crop": "centre-cropped to {r}x{r} at native scale (no resampling)",
    "pad": "padded with background -1 to a centred square of at least {r}x{r}, then resized to {r}x{r} if larger",
}


def check_resolution(resolution: object) -> int:
    """A power of two of at least 4: the resolutions every decoder in genae is built for."""
    if isinstance(resolution, bool) or not isinstance(resolution, int) or resolution < 4:
        raise DataError(f"resolution: expected a power of two >= 4, got {resolution!r}")
    if resolution & (resolution - 1):
        raise DataError(f"resolution: expected a power of two >= 4 (e.g. 32, 64), got {resolution}")
    return resolution


def check_channels(channels: object) -> int:
    if channels not in (1, 3) or isinstance(channels, bool):
        raise DataError(f"channels: expected 1 (grey) or 3 (RGB), got {channels!r}")
    return int(channels)  # type: ignore[call-overload]


def check_fit(fit: object) -> str:
    if fit not in FITS:
        raise DataError(f"fit: expected one of {', '.join(FITS)}, got {fit!r}")
    return str(fit)


def default_fit(height: int, width: int, resolution: int) -> str:
    """Pad when ``resolution`` is the smallest power of two that holds the image (28 → 32), else resize.

    Padding keeps every pixel as it was; resampling a 28-pixel digit to 32 would blur it for no gain.
    """
    side = max(height, width)
    smallest_holder = 1 << (side - 1).bit_length()
    return "pad" if side < resolution == smallest_holder else "resize"


def describe_fit(fit: str, resolution: int) -> str:
    return FIT_RULES[check_fit(fit)].format(r=resolution)


def to_float(images: Tensor) -> Tensor:
    """uint8 ``[0, 255]`` → float ``[-1, 1]``; a float batch must already lie in ``[-1, 1]``."""
    if images.dtype == torch.uint8:
        return images.float() / 127.5 - 1.0
    if not images.is_floating_point():
        raise DataError(f"images: expected uint8 or a float dtype, got {images.dtype}")
    if images.numel() and not torch.isfinite(images).all():
        raise DataError(f"images: {int((~torch.isfinite(images)).sum())} values are NaN or infinite")
    if images.numel() and (images.min() < -1 - IMAGE_RANGE_SLACK or images.max() > 1 + IMAGE_RANGE_SLACK):
        raise DataError(
            f"images: float values must lie in [-1, 1], got [{images.min():.3g}, {images.max():.3g}] "
            "(pass uint8 for 0..255 data)"
        )
    return images.float().clamp(-1.0, 1.0)


def convert_channels(images: Tensor, channels: int) -> tuple[Tensor, str | None]:
    """Grey → RGB repeats the channel; RGB → grey takes BT.601 luminance."""
    have = images.shape[1]
    if have == channels:
        return images, None
    if have == 1 and channels == 3:
        return images.repeat(1, 3, 1, 1), "grey to RGB (channel repeated)"
    if have == 3 and channels == 1:
        weights = torch.tensor(LUMA, dtype=images.dtype, device=images.device).view(1, 3, 1, 1)
        return (images * weights).sum(1, keepdim=True), "RGB to grey (BT.601 luminance)"
    raise DataError(f"images: expected 1 or 3 channels, got {have}")


def _centre_crop(images: Tensor, height: int, width: int) -> Tensor:
    top = (images.shape[-2] - height) // 2
    left = (images.shape[-1] - width) // 2
    return images[..., top : top + height, left : left + width]


def _resize(images: Tensor, height: int, width: int) -> Tensor:
    out = F.interpolate(images, size=(height, width), mode="bilinear", align_corners=False, antialias=True)
    return out.clamp(-1.0, 1.0)


def fit_spatial(images: Tensor, resolution: int, fit: str) -> tuple[Tensor, str | None]:
    """Make a ``(B, C, H, W)`` float batch ``resolution`` × ``resolution`` by the rule ``fit``."""
    height, width = images.shape[-2:]
    if height == width == resolution:
        return images, None
    was = f"{height}x{width} to {resolution}x{resolution}"
    if fit == "crop":
        if height < resolution or width < resolution:
            raise DataError(
                f"fit='crop' needs images of at least {resolution}x{resolution}, got {height}x{width}; "
                "use fit='resize' or fit='pad'"
            )
        return _centre_crop(images, resolution, resolution), f"centre-cropped {was}"
    if fit == "pad":
        side = max(height, width, resolution)
        top, left = (side - height) // 2, (side - width) // 2
        padded = F.pad(images, (left, side - width - left, top, side - height - top), value=BACKGROUND)
        if side == resolution:
            return padded, f"padded {was} with background -1"
        return _resize(padded, resolution, resolution), f"padded to square and resized {was}"
    scale = resolution / min(height, width)
    new_h, new_w = max(resolution, round(height * scale)), max(resolution, round(width * scale))
    resized = _centre_crop(_resize(images, new_h, new_w), resolution, resolution)
    return resized, f"resized {was}" + ("" if height == width else " (shorter side, centre crop)")


def fit_images(
    images: Tensor, channels: int, resolution: int, fit: str | None = None
) -> tuple[Tensor, str | None]:
    """Convert a batch ``(B, C, H, W)`` (float in ``[-1, 1]`` or uint8) to ``channels`` × ``resolution``².

    Returns the converted float batch and a one-line notice of what changed (``None`` if nothing did), so
    a command-line tool can tell its user how their images were altered. ``fit=None`` pads when the
    resolution is the next power of two above the image size and resizes otherwise.
    """
    if not isinstance(images, Tensor) or images.dim() != 4:
        shape = tuple(images.shape) if isinstance(images, Tensor) else type(images).__name__
        raise DataError(f"images: expected a (B, C, H, W) tensor, got {shape}")
    channels, resolution = check_channels(channels), check_resolution(resolution)
    height, width = images.shape[-2:]
    fit = default_fit(height, width, resolution) if fit is None else check_fit(fit)
    x, channel_notice = convert_channels(to_float(images), channels)
    x, size_notice = fit_spatial(x, resolution, fit)
    notices = [n for n in (channel_notice, size_notice) if n]
    return x.contiguous(), "; ".join(notices) if notices else None
