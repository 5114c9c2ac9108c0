"""Pixel-level reconstruction scores: MSE, PSNR and SSIM, each per image then averaged by the caller.

Images are compared in the range given by ``data_range`` (2.0 for genae's ``[-1, 1]``): PSNR and SSIM
depend on it, so it is explicit and recorded rather than guessed from the data.
"""

from __future__ import annotations

import torch
from torch import Tensor
from torch.nn import functional as F

DATA_RANGE = 2.0  # images in [-1, 1]
SSIM_CHUNK = 256  # images per SSIM convolution call: bounds its memory whatever the number of images


def _check_pair(a: Tensor, b: Tensor) -> tuple[Tensor, Tensor]:
    for images, name in ((a, "a"), (b, "b")):
        if not isinstance(images, Tensor) or images.dim() != 4:
            raise ValueError(f"{name}: expected a (B, C, H, W) tensor")
    if a.shape != b.shape:
        raise ValueError(f"a and b must have the same shape, got {tuple(a.shape)} and {tuple(b.shape)}")
    return a.double(), b.double()


def mse(a: Tensor, b: Tensor) -> Tensor:
    """Per-image mean squared error ``(B,)`` in float64."""
    a, b = _check_pair(a, b)
    return (a - b).pow(2).flatten(1).mean(1)


def psnr(a: Tensor, b: Tensor, data_range: float = DATA_RANGE) -> Tensor:
    """Per-image PSNR in dB, ``10 log10(range^2 / MSE)``; identical images give ``inf``."""
    if data_range <= 0:
        raise ValueError(f"data_range: expected a positive number, got {data_range}")
    return 10 * torch.log10(data_range**2 / mse(a, b))


def gaussian_window(size: int = 11, sigma: float = 1.5) -> Tensor:
    coords = torch.arange(size, dtype=torch.float64) - (size - 1) / 2
    g = torch.exp(-(coords**2) / (2 * sigma**2))
    g = g / g.sum()
    return g[:, None] * g[None, :]


def ssim(a: Tensor, b: Tensor, data_range: float = DATA_RANGE, size: int = 11, sigma: float = 1.5) -> Tensor:
    """Per-image SSIM (Wang et al. 2004): Gaussian 11x11 window, sigma 1.5, K1=0.01, K2=0.03.

    Statistics are taken over valid window positions only (no padding), per channel, and the SSIM map is
    averaged over positions and channels, as in the reference implementation and scikit-image's
    ``gaussian_weights=True, use_sample_covariance=False``.
    """
    a, b = _check_pair(a, b)
    if data_range <= 0:
        raise ValueError(f"data_range: expected a positive number, got {data_range}")
    if min(a.shape[-2:]) < size:
        raise ValueError(f"ssim: images of size {tuple(a.shape[-2:])} are smaller than the {size}x{size} window")
    window = gaussian_window(size, sigma).to(a.device).expand(a.shape[1], 1, size, size)
    # Per-image values, so chunks give the same numbers; whole-set convolutions unfold every image's windows
    # at once (4.7 GB for 10,000 32x32 images on CPU).
    chunks = [_ssim_map_mean(a[i:i + SSIM_CHUNK], b[i:i + SSIM_CHUNK], window, data_range)
              for i in range(0, len(a), SSIM_CHUNK)]
    return torch.cat(chunks)


def _ssim_map_mean(a: Tensor, b: Tensor, window: Tensor, data_range: float) -> Tensor:
    def blur(x: Tensor) -> Tensor:
        return F.conv2d(x, window, groups=a.shape[1])

    mu_a, mu_b = blur(a), blur(b)
    var_a = blur(a * a) - mu_a**2
    var_b = blur(b * b) - mu_b**2
    cov = blur(a * b) - mu_a * mu_b
    c1, c2 = (0.01 * data_range) ** 2, (0.03 * data_range) ** 2
    ssim_map = ((2 * mu_a * mu_b + c1) * (2 * cov + c2)) / ((mu_a**2 + mu_b**2 + c1) * (var_a + var_b + c2))
    return ssim_map.flatten(1).mean(1)

