"""The StyleGAN2 generator (Karras et al. 2020) in plain PyTorch: mapping network and synthesis network.

Each idea is one small class, as in the paper's figure: an equalised-lr linear layer with a learning-rate
multiplier, the modulated convolution (weight × style, then demodulation), a styled conv (modulated conv →
noise → biased LeakyReLU·√2), ToRGB with the upsampled skip, and the FIR up-sampling of the skips and of the
transposed convolutions. Module names and stored tensors follow the layout of rosinality's
stylegan2-pytorch, the format pSp/e4e/PTI consume, so a converted checkpoint is a renaming; the arithmetic
follows the same operation order (see ``../shared/fixtures/rosinality-stylegan2/README.md`` §5), so outputs
agree to float rounding. No CUDA extension: everything is ``F.conv2d``/``F.conv_transpose2d``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import Tensor, nn
from torch.nn import functional as F

from genae.interfaces import Prior, StyleDecoder

SQRT2 = 2**0.5
#: ``noise_mode`` values of :meth:`StyleGAN2Synthesis.forward_styles` (NVIDIA's names).
NOISE_MODES = ("const", "random", "none")
#: The FIR filter StyleGAN2 uses around every resolution change.
BLUR_TAPS = (1.0, 3.0, 3.0, 1.0)


def fir_kernel(factor: int = 2) -> Tensor:
    """``outer(taps, taps)`` normalised to sum ``factor²``: the upsampling filter keeps the mean intensity."""
    taps = torch.tensor(BLUR_TAPS)
    kernel = torch.outer(taps, taps)
    return kernel / kernel.sum() * factor**2


def upfirdn2d(x: Tensor, kernel: Tensor, up: int = 1, pad: tuple[int, int] = (0, 0), down: int = 1) -> Tensor:
    """Zero-insert upsample by ``up``, zero-pad ``pad`` (before, after) on both axes, convolve with ``kernel``,
    keep every ``down``-th sample.

    A true convolution (the kernel is flipped), applied to every channel separately.
    """
    batch, channels, height, width = x.shape
    out = x.reshape(-1, 1, height, width)
    if up > 1:
        out = out[:, :, :, None, :, None]
        out = F.pad(out, (0, up - 1, 0, 0, 0, up - 1))
        out = out.reshape(-1, 1, height * up, width * up)
    out = F.pad(out, (pad[0], pad[1], pad[0], pad[1]))
    out = F.conv2d(out, kernel.flip(0, 1)[None, None].to(out.dtype))[:, :, ::down, ::down]
    return out.reshape(batch, channels, out.shape[-2], out.shape[-1])


class PixelNorm(nn.Module):
    """x · rsqrt(mean(x²) + 1e-8) over the feature dimension: z on a sphere before the mapping."""

    def forward(self, x: Tensor) -> Tensor:
        return x * torch.rsqrt(x.square().mean(dim=1, keepdim=True) + 1e-8)


class EqualLinear(nn.Module):
    """Linear layer with run-time scale ``lr_mul/√in`` and bias × ``lr_mul``; optional biased LeakyReLU·√2.

    Stored weights start at ``N(0, 1)/lr_mul``, so ``lr_mul`` = 0.01 (the mapping network) slows learning
    a hundredfold without changing the initial function.
    """

    def __init__(self, in_dim: int, out_dim: int, lr_mul: float = 1.0, bias_init: float = 0.0,
                 activate: bool = False) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.randn(out_dim, in_dim) / lr_mul)
        self.bias = nn.Parameter(torch.full((out_dim,), float(bias_init)))
        self.scale = 1 / math.sqrt(in_dim) * lr_mul
        self.lr_mul = lr_mul
        self.activate = activate

    def forward(self, x: Tensor) -> Tensor:
        if self.activate:
            out = F.linear(x, self.weight * self.scale)
            return F.leaky_relu(out + self.bias * self.lr_mul, 0.2) * SQRT2
        return F.linear(x, self.weight * self.scale, bias=self.bias * self.lr_mul)


class MappingNetwork(nn.Module):
    """z (and, in a class-conditional generator, labels c) → w.

    z is normalised (:class:`PixelNorm`); with ``c_dim`` > 0 the labels go through a linear embedding, are
    normalised the same way and concatenated after z (NVIDIA's conditional mapping). Then ``n_mlp`` activated
    :class:`EqualLinear` layers (lr multiplier ``lr_mul``), children ``"1"`` … ``"n_mlp"`` as in rosinality's files.
    """

    def __init__(self, style_dim: int, n_mlp: int, lr_mul: float = 0.01, *, z_dim: int | None = None,
                 c_dim: int = 0, embed_dim: int | None = None, hidden_dim: int | None = None) -> None:
        super().__init__()
        self.z_dim = style_dim if z_dim is None else z_dim
        self.c_dim = c_dim
        self.n_mlp = n_mlp
        self.norm = PixelNorm()
        embedded = (style_dim if embed_dim is None else embed_dim) if c_dim else 0
        if c_dim:
            self.embed = EqualLinear(c_dim, embedded)
        hidden = style_dim if hidden_dim is None else hidden_dim
        dims = [self.z_dim + embedded] + [hidden] * (n_mlp - 1) + [style_dim]
        for k in range(n_mlp):
            self.add_module(str(k + 1), EqualLinear(dims[k], dims[k + 1], lr_mul=lr_mul, activate=True))

    def label_vectors(self, labels: Tensor | Sequence[int] | None, batch: int, device: torch.device) -> Tensor:
        """Labels as ``(B, c_dim)`` vectors: class indices become one-hot rows, vectors pass through."""
        if labels is None:
            raise ValueError(f"c: this generator is class-conditional (c_dim={self.c_dim}); pass labels, "
                             f"class indices or ({batch}, {self.c_dim}) vectors")
        c = torch.as_tensor(labels, device=device)
        if c.dim() == 1 and not c.is_floating_point():
            out_of_range = not c.is_meta and bool(((c < 0) | (c >= self.c_dim)).any())
            if c.shape[0] != batch or out_of_range:
                raise ValueError(f"c: expected {batch} class indices in [0, {self.c_dim}), got {c.tolist()}")
            return F.one_hot(c.long(), self.c_dim).float()
        if c.dim() != 2 or tuple(c.shape) != (batch, self.c_dim):
            raise ValueError(f"c: expected {batch} class indices or shape ({batch}, {self.c_dim}), "
                             f"got shape {tuple(c.shape)}")
        return c.float()

    def forward(self, z: Tensor | None, c: Tensor | Sequence[int] | None = None) -> Tensor:
        """``z`` is None for a labels-only mapping (``z_dim`` = 0, as a conditional discriminator's)."""
        if self.z_dim == 0 and z is None:
            z = torch.empty(0 if c is None else len(c), 0, device=self.embed.weight.device, dtype=self.embed.weight.dtype)
        if not isinstance(z, Tensor) or z.dim() != 2 or z.shape[1] != self.z_dim:
            got = tuple(z.shape) if isinstance(z, Tensor) else type(z).__name__
            raise ValueError(f"z: expected shape (B, {self.z_dim}), got {got}")
        parts = [self.norm(z)] if self.z_dim else []
        if self.c_dim:
            labels = self.label_vectors(c, z.shape[0], z.device).to(z.dtype)
            parts.append(self.norm(self.embed(labels)))
        elif c is not None and torch.as_tensor(c).numel():
            raise ValueError("c: this generator is unconditional (c_dim=0); pass no labels")
        x = torch.cat(parts, dim=1)
        for k in range(1, self.n_mlp + 1):
            x = self._modules[str(k)](x)
        return x


class MappedGaussianPrior(Prior):
    """z ~ N(0, I) pushed through the mapping network: samples are w, the latents the synthesis reads.

    ``w_avg`` is the mean w (the checkpoint's ``latent_avg`` or NVIDIA's ``w_avg`` when converted), the
    centre of truncation. A class-conditional mapping samples uniform random classes unless given ``labels``.
    """

    def __init__(self, style_dim: int, n_mlp: int, lr_mul: float = 0.01, **mapping: int | None) -> None:
        super().__init__()
        self.latent_dim = style_dim
        self.mapping = MappingNetwork(style_dim, n_mlp, lr_mul, **mapping)
        self.register_buffer("w_avg", torch.zeros(style_dim))

    def draw_z(self, n: int, generator: torch.Generator | None = None,
               device: torch.device | str | None = None) -> Tensor:
        if not isinstance(n, int) or isinstance(n, bool) or n < 1:
            raise ValueError(f"n: expected a positive int, got {n!r}")
        gen_device = generator.device if generator is not None else torch.device("cpu")
        z = torch.randn(n, self.mapping.z_dim, generator=generator, device=gen_device)
        return z.to(device or self.w_avg.device, self.w_avg.dtype)

    def draw_labels(self, n: int, generator: torch.Generator | None = None) -> Tensor | None:
        """Uniform random class indices for a conditional mapping (None for an unconditional one)."""
        if not self.mapping.c_dim:
            return None
        gen_device = generator.device if generator is not None else torch.device("cpu")
        return torch.randint(self.mapping.c_dim, (n,), generator=generator, device=gen_device)

    def sample(self, n: int, generator: torch.Generator | None = None,
               device: torch.device | str | None = None, labels: Tensor | Sequence[int] | None = None) -> Tensor:
        z = self.draw_z(n, generator, device or self.w_avg.device)
        return self.mapping(z, self.draw_labels(n, generator) if labels is None else labels)


class ModulatedConv2d(nn.Module):
    """Conv whose weight is scaled per sample and input channel by the style; optionally demodulated and
    preceded by a ×2 transposed conv + FIR blur. Runs as one grouped conv over the batch."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, style_dim: int,
                 demodulate: bool = True, upsample: bool = False) -> None:
        super().__init__()
        self.in_channels, self.out_channels, self.kernel_size = in_channels, out_channels, kernel_size
        self.demodulate, self.upsample = demodulate, upsample
        self.scale = 1 / math.sqrt(in_channels * kernel_size**2)
        self.padding = kernel_size // 2
        self.weight = nn.Parameter(torch.randn(1, out_channels, in_channels, kernel_size, kernel_size))
        self.modulation = EqualLinear(style_dim, in_channels, bias_init=1.0)
        if upsample:
            self.register_buffer("blur_kernel", fir_kernel(2), persistent=False)

    def forward(self, x: Tensor, style: Tensor) -> Tensor:
        batch, in_channels, height, width = x.shape
        s = self.modulation(style).view(batch, 1, in_channels, 1, 1)
        weight = self.scale * self.weight * s
        if self.demodulate:
            demod = torch.rsqrt(weight.square().sum([2, 3, 4]) + 1e-8)
            weight = weight * demod.view(batch, self.out_channels, 1, 1, 1)
        k = self.kernel_size
        x = x.reshape(1, batch * in_channels, height, width)
        if self.upsample:
            weight = weight.transpose(1, 2).reshape(batch * in_channels, self.out_channels, k, k)
            out = F.conv_transpose2d(x, weight, padding=0, stride=2, groups=batch)
            out = out.view(batch, self.out_channels, out.shape[-2], out.shape[-1])
            return upfirdn2d(out, self.blur_kernel, pad=(1, 1))
        weight = weight.reshape(batch * self.out_channels, in_channels, k, k)
        out = F.conv2d(x, weight, padding=self.padding, groups=batch)
        return out.view(batch, self.out_channels, height, width)

    def extra_repr(self) -> str:
        return (f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, "
                f"demodulate={self.demodulate}, upsample={self.upsample}")


class NoiseStrength(nn.Module):
    """``x + weight · noise``: one learned scalar per layer (StyleGAN2's form; starts at 0)."""

    def __init__(self) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.zeros(1))

    def forward(self, x: Tensor, noise: Tensor) -> Tensor:
        return x + self.weight * noise


def clamp_to(x: Tensor, limit: float | None) -> Tensor:
    """NVIDIA's ``conv_clamp``: activations clipped to ±limit (keeps fp16 blocks finite; None: no clip)."""
    return x if limit is None else x.clamp(-limit, limit)


class BiasedLeakyReLU(nn.Module):
    """leaky_relu(x + bias[c], 0.2) · √2 (the fused bias + activation of StyleGAN2), then ``clamp``."""

    def __init__(self, channels: int, clamp: float | None = None) -> None:
        super().__init__()
        self.bias = nn.Parameter(torch.zeros(channels))
        self.clamp = clamp

    def forward(self, x: Tensor) -> Tensor:
        return clamp_to(F.leaky_relu(x + self.bias.view(1, -1, 1, 1), 0.2) * SQRT2, self.clamp)


class StyledConv(nn.Module):
    """Modulated 3×3 conv (optionally upsampling) → noise (unless None) → biased LeakyReLU·√2 → clamp."""

    def __init__(self, in_channels: int, out_channels: int, style_dim: int, upsample: bool = False,
                 clamp: float | None = None) -> None:
        super().__init__()
        self.conv = ModulatedConv2d(in_channels, out_channels, 3, style_dim, upsample=upsample)
        self.noise = NoiseStrength()
        self.activate = BiasedLeakyReLU(out_channels, clamp)

    def forward(self, x: Tensor, style: Tensor, noise: Tensor | None) -> Tensor:
        out = self.conv(x, style)
        return self.activate(out if noise is None else self.noise(out, noise))


class ToRGB(nn.Module):
    """Modulated 1×1 conv to image channels (no demodulation) + bias, clamped, plus the upsampled previous image."""

    def __init__(self, in_channels: int, style_dim: int, out_channels: int = 3, upsample: bool = True,
                 clamp: float | None = None) -> None:
        super().__init__()
        self.conv = ModulatedConv2d(in_channels, out_channels, 1, style_dim, demodulate=False)
        self.bias = nn.Parameter(torch.zeros(1, out_channels, 1, 1))
        self.clamp = clamp
        if upsample:
            self.register_buffer("skip_kernel", fir_kernel(2), persistent=False)

    def forward(self, x: Tensor, style: Tensor, skip: Tensor | None = None) -> Tensor:
        out = clamp_to(self.conv(x, style) + self.bias, self.clamp)
        if skip is not None:
            out = out + upfirdn2d(skip, self.skip_kernel, up=2, pad=(2, 1))
        return out


class ConstantInput(nn.Module):
    """The learned 4×4 map synthesis starts from."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.input = nn.Parameter(torch.randn(1, channels, 4, 4))

    def forward(self, batch: int) -> Tensor:
        return self.input.repeat(batch, 1, 1, 1)


def default_widths(resolution: int, channel_multiplier: int = 2) -> list[int]:
    """StyleGAN2's channel widths for 4, 8, …, ``resolution`` px (512 up to 32 px, then halving)."""
    table = {4: 512, 8: 512, 16: 512, 32: 512, 64: 256 * channel_multiplier, 128: 128 * channel_multiplier,
             256: 64 * channel_multiplier, 512: 32 * channel_multiplier, 1024: 16 * channel_multiplier}
    if resolution not in table:
        raise ValueError(f"resolution: StyleGAN2's width table covers {sorted(table)} px, got {resolution!r}")
    return [table[4 * 2**i] for i in range(resolution.bit_length() - 2)]


class StyleGAN2Synthesis(StyleDecoder):
    """The synthesis network as a :class:`StyleDecoder`: ``num_styles`` = 2·log2(size) − 2 slots.

    Slot 0 drives the 4×4 conv; slot ``2b+1`` the upsampling conv of block ``b`` (and the ToRGB before it),
    ``2b+2`` its second conv, ``2b+3`` its ToRGB. Noise: ``noise=`` maps ``(B or 1, 1, H, W)`` per layer, or
    ``noise_mode`` (NVIDIA's names): ``"const"`` the stored fixed maps ``noises.noise_i``, ``"random"`` fresh
    draws, ``"none"`` no noise; by default const in eval mode (as ``randomize_noise=False``) and random in
    training mode. ``conv_clamp`` clips every conv and ToRGB output to ±conv_clamp (NVIDIA's configs use 256).
    The output is not squashed (callers clamp).
    """

    def __init__(self, style_dim: int, widths: Sequence[int], out_channels: int = 3,
                 conv_clamp: float | None = None) -> None:
        super().__init__()
        widths = list(widths)
        if len(widths) < 2 or not all(isinstance(w, int) and not isinstance(w, bool) and w > 0 for w in widths):
            raise ValueError(f"widths: expected positive ints for 4, 8, … px (at least 8 px), got {widths!r}")
        self.latent_dim = style_dim
        self.widths = widths
        self.out_channels = out_channels
        self.input = ConstantInput(widths[0])
        self.conv1 = StyledConv(widths[0], widths[0], style_dim, clamp=conv_clamp)
        self.to_rgb1 = ToRGB(widths[0], style_dim, out_channels, upsample=False, clamp=conv_clamp)
        self.convs = nn.ModuleList()
        self.to_rgbs = nn.ModuleList()
        for previous, width in zip(widths[:-1], widths[1:]):
            self.convs.append(StyledConv(previous, width, style_dim, upsample=True, clamp=conv_clamp))
            self.convs.append(StyledConv(width, width, style_dim, clamp=conv_clamp))
            self.to_rgbs.append(ToRGB(width, style_dim, out_channels, clamp=conv_clamp))
        self.noises = nn.Module()
        for index, (height, width) in enumerate(self.noise_shapes):
            self.noises.register_buffer(f"noise_{index}", torch.randn(1, 1, height, width))

    @property
    def num_styles(self) -> int:
        return 2 * len(self.widths)

    @property
    def resolution(self) -> int:
        return 4 * 2 ** (len(self.widths) - 1)

    @property
    def noise_shapes(self) -> list[tuple[int, int]]:
        """``(H, W)`` of each noise input, in layer order (4, 8, 8, 16, 16, …)."""
        return [(4 * 2 ** ((i + 1) // 2), 4 * 2 ** ((i + 1) // 2)) for i in range(self.num_styles - 1)]

    def style_affine_weights(self) -> list[list[Tensor]]:
        """Per slot, the effective modulation matrices ``(in_channels, D)`` of its convs (SeFa's input).

        ToRGB modulations are left out, as SeFa's StyleGAN2 code does: they recolour rather than reshape.
        """
        slots: list[list[Tensor]] = [[] for _ in range(self.num_styles)]
        convs = [(0, self.conv1)] + [(index + 1, conv) for index, conv in enumerate(self.convs)]
        for slot, conv in convs:
            modulation = conv.conv.modulation
            slots[slot].append(modulation.weight * modulation.scale)
        return slots

    def _noise(self, noise: Sequence[Tensor] | None, like: Tensor, mode: str | None) -> list[Tensor | None]:
        shapes = self.noise_shapes
        if mode is not None and (mode not in NOISE_MODES or noise is not None):
            raise ValueError(f"noise_mode: expected one of {NOISE_MODES} (and no noise= maps), got {mode!r}"
                             + (" with noise= maps" if noise is not None else ""))
        if noise is None:
            mode = mode or ("random" if self.training else "const")
            if mode == "random":
                return [torch.randn(like.shape[0], 1, h, w, device=like.device, dtype=like.dtype) for h, w in shapes]
            if mode == "none":
                return [None] * len(shapes)
            return [getattr(self.noises, f"noise_{i}") for i in range(len(shapes))]
        if isinstance(noise, Tensor) or len(noise) != len(shapes):
            raise ValueError(f"noise: expected a list of {len(shapes)} maps, one per noise layer")
        for i, (level, (h, w)) in enumerate(zip(noise, shapes)):
            if not isinstance(level, Tensor) or level.dim() != 4 or tuple(level.shape[1:]) != (1, h, w):
                got = tuple(level.shape) if isinstance(level, Tensor) else type(level).__name__
                raise ValueError(f"noise[{i}]: expected shape (B or 1, 1, {h}, {w}), got {got}")
        return list(noise)

    def _check_styles(self, styles: Sequence[Tensor]) -> int:
        if isinstance(styles, Tensor) or not isinstance(styles, Sequence) or len(styles) != self.num_styles:
            count = len(styles) if isinstance(styles, Sequence) and not isinstance(styles, Tensor) else type(styles).__name__
            raise ValueError(f"styles: expected a list of {self.num_styles} latents (one per slot), got {count}")
        for i, s in enumerate(styles):
            if not isinstance(s, Tensor) or s.dim() != 2 or s.shape[1] != self.latent_dim or s.shape[0] != styles[0].shape[0]:
                got = tuple(s.shape) if isinstance(s, Tensor) else type(s).__name__
                raise ValueError(f"styles[{i}]: expected shape (B, {self.latent_dim}) with one B, got {got}")
        return styles[0].shape[0]

    def forward_styles(self, styles: Sequence[Tensor], noise: Sequence[Tensor] | None = None,
                       noise_mode: str | None = None) -> Tensor:
        batch = self._check_styles(styles)
        maps = self._noise(noise, styles[0], noise_mode)
        out = self.conv1(self.input(batch), styles[0], maps[0])
        skip = self.to_rgb1(out, styles[1])
        for b, to_rgb in enumerate(self.to_rgbs):
            out = self.convs[2 * b](out, styles[2 * b + 1], maps[2 * b + 1])
            out = self.convs[2 * b + 1](out, styles[2 * b + 2], maps[2 * b + 2])
            skip = to_rgb(out, styles[2 * b + 3], skip)
        return skip
