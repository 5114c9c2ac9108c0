"""The automodulator's progressive networks: an AdaIN style decoder and a spectral-norm encoder.

Block ``b`` works at ``4·2^b`` px (block 0 is 4×4); a model of resolution ``R`` has ``log2(R) − 1`` blocks.
*Phase* ``p`` means the networks run at ``4·2^p`` px with blocks ``0..p``; ``alpha`` ∈ [0, 1] fades block ``p``
in on both sides as ``(1 − α)·path_from_the_previous_resolution + α·new_block`` (α = 1: fully in).

The arithmetic follows the authors' released implementation exactly (see
``shared/fixtures/official-automodulator/README.md``), so their checkpoints convert without loss:

- decoder: a fixed all-ones ``C0×4×4`` input; block 0 is conv3×3 → LeakyReLU(0.2) → AdaIN; every later block
  is nearest ×2 upsample, conv3×3 → blur → noise → LeakyReLU → AdaIN, conv3×3 → noise → LeakyReLU → AdaIN, both
  AdaINs driven by the block's style. Convs use equalised learning rate; ``to_rgb`` are plain 1×1 convs and
  the output is not squashed (callers clamp). Block 0 has no noise, as in the authors' code.
- encoder: ``from_rgb`` 1×1 into the entry block, then per block conv3×3 → LeakyReLU → conv3×3 → LeakyReLU →
  2×2 average pool; the 4×4 block ends with a 4×4 valid conv to the code, which is L2-normalised. Convs are
  spectrally normalised with ``torch.nn.utils.parametrizations.spectral_norm``: per module (no global
  registry), one power iteration per training forward, the cached ``u``/``v`` in eval mode.

Noise is drawn only in training mode, so decoding in eval mode is deterministic (the authors also switch
it off for inference). Pass ``noise_generator`` for reproducible training-time noise.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
from torch import Tensor, nn
from torch.nn import functional as F
from torch.nn.utils.parametrizations import spectral_norm

from genae.interfaces import Encoder, StyleDecoder
from genae.layers import AdaIN, Blur, EqualizedConv2d, NoiseInjection

__all__ = ["ProgressiveEncoder", "ProgressiveStyleDecoder", "num_blocks", "resolution_of_phase"]

MAX_BLOCKS = 12  # 8192 px; far beyond anything trained, but keeps typos from allocating forever
#: Memory format of the feature maps inside both networks (inputs and outputs keep the standard one).
#: channels_last lets oneDNN skip a layout reorder around every convolution: large-architecture
#: encode+decode took 0.70-0.86x the time of the standard format on a 2-core CPU
#: (``benchmarks/results/automodulator-speed.md``); outputs differ by float rounding only.
ACTIVATIONS_FORMAT = torch.channels_last


def num_blocks(resolution: int) -> int:
    """Blocks needed for ``resolution`` px (4 → 1, 8 → 2, ...)."""
    if not isinstance(resolution, int) or resolution < 4 or resolution & (resolution - 1):
        raise ValueError(f"resolution: expected a power of two >= 4, got {resolution!r}")
    return resolution.bit_length() - 2


def resolution_of_phase(phase: int) -> int:
    return 4 * 2**phase


def _check_widths(name: str, widths: Sequence[int]) -> list[int]:
    widths = list(widths) if isinstance(widths, (list, tuple)) else widths
    if not isinstance(widths, list) or not 1 <= len(widths) <= MAX_BLOCKS:
        raise ValueError(f"{name}: expected a list of 1..{MAX_BLOCKS} block widths, got {widths!r}")
    if not all(isinstance(w, int) and not isinstance(w, bool) and w >= 1 for w in widths):
        raise ValueError(f"{name}: every width must be a positive int, got {widths!r}")
    return widths


class _Progressive:
    """Phase/alpha validation shared by the progressive networks, and the downward pass of the image → features ones."""

    num_blocks: int
    in_channels: int
    blocks: nn.ModuleList

    def _phase(self, phase: int | None) -> int:
        if phase is None:
            return self.num_blocks - 1
        if not isinstance(phase, int) or isinstance(phase, bool) or not 0 <= phase < self.num_blocks:
            raise ValueError(f"phase: expected an int in [0, {self.num_blocks - 1}] (or None for full "
                             f"resolution), got {phase!r}")
        return phase

    def _reduce(self, x: Tensor, phase: int | None, alpha: float, enter: Callable[[int, Tensor], Tensor]) -> Tensor:
        """Run a downward (image → features) network: images at ``phase`` enter block ``p`` through
        ``enter(p, x)``, blended while block ``p`` fades in with ``enter(p − 1, x pooled 2×)``, then blocks
        ``p − 1 … 0`` follow. The encoder and the discriminator differ only in ``enter`` and their blocks.
        """
        p, a = self._phase(phase), self._alpha(alpha)
        side = resolution_of_phase(p)
        channels = self.in_channels
        if not isinstance(x, Tensor) or x.dim() != 4 or tuple(x.shape[1:]) != (channels, side, side):
            got = tuple(x.shape) if isinstance(x, Tensor) else type(x).__name__
            raise ValueError(f"images: expected shape (B, {channels}, {side}, {side}) at phase {p}, got {got}")
        h = self.blocks[p](enter(p, x))
        if p > 0 and a < 1.0:
            h = (1 - a) * enter(p - 1, F.avg_pool2d(x, 2)) + a * h
        for b in range(p - 1, -1, -1):
            h = self.blocks[b](h)
        return h

    @staticmethod
    def _alpha(alpha: float) -> float:
        if isinstance(alpha, Tensor):
            alpha = float(alpha)
        if not isinstance(alpha, (int, float)) or isinstance(alpha, bool) or not 0.0 <= alpha <= 1.0:
            raise ValueError(f"alpha: expected a number in [0, 1], got {alpha!r}")
        return float(alpha)


class StyledConv(nn.Module):
    """[upsample ×2] conv3×3 (equalised lr) → [blur] → [noise] → LeakyReLU(0.2) → AdaIN(z): one styled layer.

    The upsampling layer is upsample+conv fused (:func:`genae.layers.equalized.upsample_conv3x3`).
    """

    def __init__(self, in_channels: int, out_channels: int, latent_dim: int, upsample: bool, noise: bool) -> None:
        super().__init__()
        self.upsample = upsample
        self.conv = EqualizedConv2d(in_channels, out_channels, 3, padding=1)
        self.blur = Blur(out_channels) if upsample else None
        self.noise = NoiseInjection(out_channels) if noise else None
        self.adain = AdaIN(latent_dim, out_channels)

    def forward(self, x: Tensor, z: Tensor, noise_generator: torch.Generator | None = None) -> Tensor:
        x = self.conv(x, upsample=self.upsample)
        if self.blur is not None:
            x = self.blur(x)
        if self.noise is not None and self.training:
            x = self.noise(x, noise_generator)
        return self.adain(F.leaky_relu(x, 0.2), z)


class DecoderBlock(nn.Module):
    """Block 0: one styled conv on the constant input. Later blocks: two styled convs, the first upsampling
    (``upsample=False``: a *support* block, two styled convs at the resolution of the block before it)."""

    def __init__(self, in_channels: int, out_channels: int, latent_dim: int, first: bool, use_noise: bool,
                 upsample: bool = True) -> None:
        super().__init__()
        if first:
            self.convs = nn.ModuleList([StyledConv(in_channels, out_channels, latent_dim, upsample=False,
                                                   noise=use_noise)])
        else:
            self.convs = nn.ModuleList([
                StyledConv(in_channels, out_channels, latent_dim, upsample=upsample, noise=use_noise),
                StyledConv(out_channels, out_channels, latent_dim, upsample=False, noise=use_noise),
            ])

    def forward(self, x: Tensor, z: Tensor, noise_generator: torch.Generator | None = None) -> Tensor:
        for conv in self.convs:
            x = conv(x, z, noise_generator)
        return x


class ProgressiveStyleDecoder(_Progressive, StyleDecoder):
    """The automodulator's AdaIN decoder; one style slot per block.

    Normally there is one block per resolution, so style slot ``b`` is the ``4·2^b`` px block.
    ``support_after=s`` inserts the paper's *support* block (section 4.3) right after resolution block ``s``:
    two more styled convs at that block's resolution with their own style slot (slot ``s + 1``; every later
    resolution moves up one slot). Training an invariance at that cut takes the capacity of the styles
    below it away from the rest of the image; the support block gives some back at the same scale.
    ``num_blocks`` keeps counting resolutions (phases); ``num_styles`` counts blocks (slots).

    StyleGAN-1's synthesis network differs in two switchable points: ``learned_input`` makes the 4×4
    input a parameter (initialised to ones) and ``noise_in_first_block`` adds per-pixel noise to the 4×4
    block too. Blur after upsampling convs, noise, AdaIN and progressive growing are shared as they are.
    """

    def __init__(self, latent_dim: int, channels: Sequence[int], out_channels: int = 3, use_noise: bool = True,
                 support_after: int | None = None, learned_input: bool = False,
                 noise_in_first_block: bool = False) -> None:
        super().__init__()
        if not isinstance(latent_dim, int) or latent_dim < 1:
            raise ValueError(f"latent_dim: expected a positive int, got {latent_dim!r}")
        widths = _check_widths("channels", channels)
        if support_after is not None and (not isinstance(support_after, int) or isinstance(support_after, bool)
                                          or not 0 <= support_after < len(widths)):
            raise ValueError(f"support_after: expected None or a block index in [0, {len(widths) - 1}], "
                             f"got {support_after!r}")
        self.latent_dim = latent_dim
        self.channels = widths
        self.out_channels = out_channels
        self.num_blocks = len(widths)
        self.support_after = support_after
        #: The phase (resolution index) each style block works at.
        self.block_phases = sorted([*range(self.num_blocks), *([] if support_after is None else [support_after])])
        blocks = []
        for b, phase in enumerate(self.block_phases):
            support = b > 0 and self.block_phases[b - 1] == phase  # same resolution as the block before it
            in_width = widths[phase] if support else widths[max(phase - 1, 0)]
            block_noise = use_noise and (b > 0 or noise_in_first_block)
            blocks.append(DecoderBlock(in_width, widths[phase], latent_dim, first=b == 0, use_noise=block_noise,
                                       upsample=not support))
        self.blocks = nn.ModuleList(blocks)
        self.to_rgb = nn.ModuleList(nn.Conv2d(w, out_channels, 1) for w in widths)
        self.register_parameter("const", nn.Parameter(torch.ones(1, widths[0], 4, 4)) if learned_input else None)

    @property
    def num_styles(self) -> int:
        return len(self.blocks)

    def style_affine_weights(self) -> list[list[Tensor]]:
        """Per slot, the AdaIN affine matrices ``(2C, latent_dim)`` that read its style (SeFa's input)."""
        return [[conv.adain.affine.weight for conv in block.convs] for block in self.blocks]

    def active_styles(self, phase: int | None = None) -> int:
        """How many style slots decoding at ``phase`` uses (slots beyond are ignored)."""
        p = self._phase(phase)
        return sum(1 for block_phase in self.block_phases if block_phase <= p)

    @property
    def resolution(self) -> int:
        return resolution_of_phase(self.num_blocks - 1)

    @property
    def style_ranges(self) -> dict[str, tuple[int, int]]:
        """The paper's ranges: coarse 4–8 px, intermediate 16–32 px, fine 64 px and up.

        Below 64 px the boundaries move down so every range stays non-empty while possible: fine is at
        least the last block and intermediate at least the block before it (32 px: coarse 4–8, intermediate
        16, fine 32; 16 px: 4 / 8 / 16; 8 px: coarse 4, fine 8, no intermediate).
        With a support block, ranges count blocks: the support block belongs to its resolution's range.
        """
        n, slots = self.num_blocks, self.num_styles
        if n == 1:
            return {"coarse": (0, slots), "all": (0, slots)}
        fine = min(4, n - 1)
        middle = min(2, fine - 1)
        first_slot = {phase: self.block_phases.index(phase) for phase in range(n)}
        fine_slot, middle_slot = first_slot[fine], first_slot[middle]
        ranges = ({"coarse": (0, middle_slot), "intermediate": (middle_slot, fine_slot)} if middle >= 1
                  else {"coarse": (0, fine_slot)})
        return {**ranges, "fine": (fine_slot, slots), "all": (0, slots)}

    # -- checks -----------------------------------------------------------------------------------------
    def _check_styles(self, styles: Sequence[Tensor]) -> int:
        if isinstance(styles, Tensor) or not isinstance(styles, Sequence):
            raise TypeError(f"styles: expected a sequence of {self.num_styles} latents, got {type(styles).__name__}")
        if len(styles) != self.num_styles:
            raise ValueError(f"styles: expected exactly {self.num_styles} latents (one per block), got {len(styles)}")
        batch = None
        for i, z in enumerate(styles):
            if not isinstance(z, Tensor) or z.dim() != 2 or z.shape[1] != self.latent_dim:
                shape = tuple(z.shape) if isinstance(z, Tensor) else type(z).__name__
                raise ValueError(f"styles[{i}]: expected shape (B, {self.latent_dim}), got {shape}")
            if batch is None:
                batch = z.shape[0]
            elif z.shape[0] != batch:
                raise ValueError(f"styles[{i}]: batch size {z.shape[0]} differs from styles[0]'s {batch}")
        return int(batch)  # type: ignore[arg-type]

    # -- forward ----------------------------------------------------------------------------------------
    def _run(self, x: Tensor, styles: Sequence[Tensor], start: int, stop: int,
             noise_generator: torch.Generator | None) -> tuple[Tensor, Tensor | None]:
        """Run blocks ``start..stop-1`` on ``x``; also return the input of the last resolution's first block
        (the previous resolution's features, which the fade-in path turns into an image)."""
        last_phase_input = None
        for b in range(start, stop):
            if b == 0 or self.block_phases[b] != self.block_phases[b - 1]:
                last_phase_input = x
            x = self.blocks[b](x, styles[b], noise_generator)
        return x, last_phase_input

    def _to_image(self, x: Tensor, previous: Tensor | None, phase: int, alpha: float) -> Tensor:
        out = self.to_rgb[phase](x)
        if phase > 0 and alpha < 1.0:
            # to_rgb is 1×1, so it commutes with nearest upsampling: apply it at the lower resolution.
            skip = F.interpolate(self.to_rgb[phase - 1](previous), scale_factor=2.0, mode="nearest")
            out = (1 - alpha) * skip + alpha * out
        return out.contiguous()

    def constant_input(self, batch: int) -> Tensor:
        """The ``C0×4×4`` map every decoding starts from: all ones, or learned (``learned_input``)."""
        if self.const is not None:
            return self.const.expand(batch, -1, -1, -1).contiguous(memory_format=ACTIVATIONS_FORMAT)
        weight = self.to_rgb[0].weight
        return weight.new_ones(batch, self.channels[0], 4, 4).contiguous(memory_format=ACTIVATIONS_FORMAT)

    def forward_styles(self, styles: Sequence[Tensor], phase: int | None = None, alpha: float = 1.0,
                       noise_generator: torch.Generator | None = None) -> Tensor:
        """Decode with ``styles[b]`` driving block ``b``; slots beyond ``phase`` are ignored.

        Returns ``(B, out_channels, 4·2^phase, 4·2^phase)``, not clamped.
        """
        batch = self._check_styles(styles)
        p, a = self._phase(phase), self._alpha(alpha)
        x, previous = self._run(self.constant_input(batch), styles, 0, self.active_styles(p), noise_generator)
        return self._to_image(x, previous, p, a)

    def features(self, styles: Sequence[Tensor], upto_block: int,
                 noise_generator: torch.Generator | None = None) -> Tensor:
        """The feature map after block ``upto_block`` (after its last AdaIN), without ``to_rgb``."""
        batch = self._check_styles(styles)
        b = self._block_index("upto_block", upto_block, 0)
        return self._run(self.constant_input(batch), styles, 0, b + 1, noise_generator)[0]

    def forward_styles_and_features(self, styles: Sequence[Tensor], features_at: int, phase: int | None = None,
                                    alpha: float = 1.0, noise_generator: torch.Generator | None = None
                                    ) -> tuple[Tensor, Tensor]:
        """:meth:`forward_styles` and, from the same pass (same noise), the feature map after block
        ``features_at`` (what :meth:`features` returns): an intermediate without a second partial pass."""
        batch = self._check_styles(styles)
        p, a = self._phase(phase), self._alpha(alpha)
        b, stop = self._block_index("features_at", features_at, 0), self.active_styles(p)
        if b >= stop:
            raise ValueError(f"features_at: block {b} is not active at phase {p}; expected 0..{stop - 1}")
        features, previous = self._run(self.constant_input(batch), styles, 0, b + 1, noise_generator)
        x, later = self._run(features, styles, b + 1, stop, noise_generator)
        return self._to_image(x, previous if later is None else later, p, a), features

    def forward_from_features(self, features: Tensor, styles: Sequence[Tensor], start_block: int,
                              phase: int | None = None, alpha: float = 1.0,
                              noise_generator: torch.Generator | None = None) -> Tensor:
        """Continue decoding from the output of block ``start_block − 1`` (as given by :meth:`features`)."""
        batch = self._check_styles(styles)
        p, a = self._phase(phase), self._alpha(alpha)
        start = self._block_index("start_block", start_block, 1)
        stop = self.active_styles(p)
        if start >= stop:
            raise ValueError(f"start_block: {start} is beyond phase {p}; expected 1..{stop - 1}")
        if start == stop - 1 and self.block_phases[start] == self.block_phases[start - 1] and a < 1.0:
            raise ValueError(f"start_block: {start} is the support block of the fading phase {p}; the fade-in "
                             "needs the features before it: start earlier or decode at alpha=1")
        side = resolution_of_phase(self.block_phases[start - 1])
        expected = (batch, self.channels[self.block_phases[start - 1]], side, side)
        if not isinstance(features, Tensor) or tuple(features.shape) != expected:
            got = tuple(features.shape) if isinstance(features, Tensor) else type(features).__name__
            raise ValueError(f"features: expected shape {expected} (output of block {start - 1}), got {got}")
        x, previous = self._run(features, styles, start, stop, noise_generator)
        return self._to_image(x, previous, p, a)

    def _block_index(self, name: str, value: int, lowest: int) -> int:
        if not isinstance(value, int) or isinstance(value, bool) or not lowest <= value < self.num_styles:
            raise ValueError(f"{name}: expected an int in [{lowest}, {self.num_styles - 1}], got {value!r}")
        return value


def _sn_conv(in_channels: int, out_channels: int, kernel_size: int, padding: int) -> nn.Conv2d:
    conv = nn.Conv2d(in_channels, out_channels, kernel_size, padding=padding)
    nn.init.kaiming_normal_(conv.weight)
    nn.init.zeros_(conv.bias)
    return spectral_norm(conv)


class EncoderBlock(nn.Module):
    """conv → LeakyReLU → conv, then LeakyReLU + 2×2 average pool, or (4×4 block) a 4×4 valid conv to the code."""

    def __init__(self, in_channels: int, mid_channels: int, out_channels: int, last: bool) -> None:
        super().__init__()
        self.last = last
        self.conv1 = _sn_conv(in_channels, mid_channels, 3, 1)
        self.conv2 = _sn_conv(mid_channels, out_channels, 4 if last else 3, 0 if last else 1)

    def forward(self, x: Tensor) -> Tensor:
        x = self.conv2(F.leaky_relu(self.conv1(x), 0.2))
        return x if self.last else F.avg_pool2d(F.leaky_relu(x, 0.2), 2)


class ProgressiveEncoder(_Progressive, Encoder):
    """The automodulator's encoder. ``channels[b]`` is the width entering block ``b`` (from ``from_rgb[b]``).

    Block ``b ≥ 1`` maps ``channels[b] → channels[b−1]`` (both convs output ``channels[b−1]``), so features
    reaching the next block have its width. The 4×4 block maps ``channels[0] → final_channels`` (default
    ``channels[0]``) then 4×4 valid to ``latent_dim``. With the authors' widths and a 512-d latent this is
    their encoder exactly; ``final_channels`` exists because their checkpoints may differ there.
    """

    def __init__(self, latent_dim: int, channels: Sequence[int], in_channels: int = 3, normalize: bool = True,
                 final_channels: int | None = None) -> None:
        super().__init__()
        if not isinstance(latent_dim, int) or latent_dim < 1:
            raise ValueError(f"latent_dim: expected a positive int, got {latent_dim!r}")
        widths = _check_widths("channels", channels)
        final = widths[0] if final_channels is None else final_channels
        if not isinstance(final, int) or final < 1:
            raise ValueError(f"final_channels: expected a positive int or None, got {final_channels!r}")
        self.latent_dim = latent_dim
        self.channels = widths
        self.final_channels = final
        self.in_channels = in_channels
        self.normalize = normalize
        self.num_blocks = len(widths)
        self.from_rgb = nn.ModuleList(nn.Conv2d(in_channels, w, 1) for w in widths)
        self.blocks = nn.ModuleList(
            EncoderBlock(widths[0], final, latent_dim, last=True) if b == 0
            else EncoderBlock(widths[b], widths[b - 1], widths[b - 1], last=False)
            for b in range(self.num_blocks)
        )

    @property
    def resolution(self) -> int:
        return resolution_of_phase(self.num_blocks - 1)

    def forward(self, x: Tensor, phase: int | None = None, alpha: float = 1.0) -> Tensor:
        """Encode images at ``4·2^phase`` px (full resolution when ``phase`` is None) to ``(B, latent_dim)``."""
        h = self._reduce(x, phase, alpha,
                         lambda b, images: self.from_rgb[b](images.contiguous(memory_format=ACTIVATIONS_FORMAT)))
        z = h.flatten(1)
        return F.normalize(z, dim=1) if self.normalize else z
