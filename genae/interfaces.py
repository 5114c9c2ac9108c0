"""The contracts every genae model keeps.

A model is ``encoder`` · ``prior`` · ``decoder`` held by a :class:`GenerativeAutoencoder`. Generic tools
(the trainer, the benchmark runner, inversion, the CLI) only ever talk to these classes, so a plugin that
keeps the contracts below gets all of them for free. ``genae.testing.check_model`` verifies them.
"""

from __future__ import annotations

import abc
import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, ClassVar, Union

import torch
from torch import Tensor, nn

from genae.config import ModelConfig

StyleRange = Union[str, tuple[int, int], range, None]
#: How far outside [-1, 1] float images may stray (resampling overshoot) before they are refused.
IMAGE_RANGE_SLACK = 1e-3


class Encoder(nn.Module, abc.ABC):
    """Maps images ``(B, C, H, W)`` in ``[-1, 1]`` to latents ``(B, latent_dim)``.

    Deterministic encoders return the code itself; stochastic encoders return their mean/mode unless
    given ``noise=`` (a tensor of standard-normal draws), so that evaluation is reproducible.
    """

    latent_dim: int

    @abc.abstractmethod
    def forward(self, x: Tensor) -> Tensor:
        """Return latents of shape ``(B, latent_dim)``."""


class Decoder(nn.Module, abc.ABC):
    """Maps latents ``(B, latent_dim)`` to images ``(B, C, H, W)`` in ``[-1, 1]``."""

    latent_dim: int

    @abc.abstractmethod
    def forward(self, z: Tensor) -> Tensor:
        """Return images of shape ``(B, C, H, W)`` with values in ``[-1, 1]``."""


class StyleDecoder(Decoder):
    """A decoder driven by one latent per *style slot* (e.g. per resolution block).

    ``forward_styles`` is the single capability that style mixing, conditional sampling and W+
    inversion are built on. Decoding one latent is decoding it in every slot.
    """

    @property
    @abc.abstractmethod
    def num_styles(self) -> int:
        """Number of style slots; ``forward_styles`` takes exactly this many latents."""

    @abc.abstractmethod
    def forward_styles(self, styles: Sequence[Tensor]) -> Tensor:
        """Decode with ``styles[i]`` (shape ``(B, latent_dim)``) driving slot ``i``."""

    @property
    def style_ranges(self) -> dict[str, tuple[int, int]]:
        """Named half-open slot ranges, e.g. ``{"coarse": (0, 2), ...}``.

        The default splits the slots into three near-equal parts; decoders with a physical meaning for
        their slots (resolutions) override it.
        """
        n = self.num_styles
        a, b = max(1, round(n / 3)), max(2, round(2 * n / 3))
        return {"coarse": (0, a), "intermediate": (a, b), "fine": (b, n), "all": (0, n)}

    def forward(self, z: Tensor) -> Tensor:
        return self.forward_styles([z] * self.num_styles)


class Prior(nn.Module, abc.ABC):
    """The distribution latents are drawn from when sampling."""

    latent_dim: int

    @abc.abstractmethod
    def sample(
        self, n: int, generator: torch.Generator | None = None, device: torch.device | str | None = None
    ) -> Tensor:
        """Draw ``n`` latents ``(n, latent_dim)``; identical generators give identical draws."""

    @property
    def is_spherical(self) -> bool:
        """True when samples lie on the unit sphere (interpolation then uses slerp)."""
        return False

    @property
    def has_log_prob(self) -> bool:
        """True when :meth:`log_prob` gives a density (``genae info`` shows it as a capability)."""
        return type(self).log_prob is not Prior.log_prob

    def log_prob(self, z: Tensor) -> Tensor:
        """Log-density of ``z``; priors without a tractable density raise ``TypeError``."""
        raise TypeError(f"{type(self).__name__} has no tractable log-density")


class Loss(nn.Module, abc.ABC):
    """A loss returns a dict of *named, unweighted* scalar terms.

    Recipes weight and sum the terms, and log every one, so each term can be switched off or re-weighted
    without touching the loss code (ablations). Losses with learned parameters (Barron's adaptive loss)
    are modules so their parameters are saved and optimised like any other.
    """

    @abc.abstractmethod
    def forward(self, *args: Any, **kwargs: Any) -> dict[str, Tensor]:
        """Return ``{term_name: scalar tensor}``."""


class GenerativeAutoencoder(nn.Module):
    """An encoder, a prior and a decoder, plus the operations users call on real images.

    Subclasses set ``config_class``, build ``encoder``/``decoder``/``prior`` from ``config`` in
    ``__init__``, and override nothing else unless their semantics differ. ``architecture`` and
    ``plugin`` are stamped by the registry when the model is created through ``genae.create``.
    """

    config_class: ClassVar[type[ModelConfig]] = ModelConfig
    architecture: str = ""
    plugin: str = ""

    encoder: Encoder
    decoder: Decoder
    prior: Prior

    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        if not isinstance(config, self.config_class):
            raise TypeError(
                f"{type(self).__name__} needs a {self.config_class.__name__}, got {type(config).__name__}"
            )
        self.config = config
        #: Free-form facts for the model card (dataset, metrics, training); saved with the weights.
        self.card: dict[str, Any] = {}

    # -- shape facts -------------------------------------------------------------------------------
    @property
    def latent_dim(self) -> int:
        return self.config.latent_dim

    @property
    def resolution(self) -> int:
        return self.config.resolution

    @property
    def channels(self) -> int:
        return self.config.channels_in

    @property
    def image_shape(self) -> tuple[int, int, int]:
        return (self.channels, self.resolution, self.resolution)

    @property
    def device(self) -> torch.device:
        for tensor in self.parameters():
            return tensor.device
        return torch.device("cpu")

    @property
    def is_style_based(self) -> bool:
        return isinstance(self.decoder, StyleDecoder)

    def capabilities(self) -> dict[str, bool]:
        """What generic tools may do with this model (shown by ``genae info``)."""
        return {
            "encode": True,
            "decode": True,
            "sample": True,
            "interpolate": True,
            "style_mixing": self.is_style_based,
            "log_prob": self.prior.has_log_prob,
        }

    # -- checks shared by every entry point ---------------------------------------------------------
    @property
    def dtype(self) -> torch.dtype:
        """The dtype the model computes in (its parameters'): inputs must have it, nothing is cast silently."""
        for tensor in self.parameters():
            return tensor.dtype
        return torch.get_default_dtype()

    def check_images(self, x: Tensor, name: str = "images") -> None:
        """Refuse anything that is not a finite batch of this model's image shape and dtype in ``[-1, 1]``."""
        if not isinstance(x, Tensor):
            raise TypeError(f"{name}: expected a torch.Tensor, got {type(x).__name__}")
        if x.dim() != 4 or tuple(x.shape[1:]) != self.image_shape:
            raise ValueError(
                f"{name}: expected shape (B, {', '.join(map(str, self.image_shape))}), got {tuple(x.shape)}; "
                "use genae.data.fit_images to resize or convert channels"
            )
        self._check_values(x, name, limit=1.0 + IMAGE_RANGE_SLACK)

    def check_latents(self, z: Tensor, name: str = "latents") -> None:
        """Refuse anything that is not a finite ``(B, latent_dim)`` batch of the model's dtype."""
        if not isinstance(z, Tensor):
            raise TypeError(f"{name}: expected a torch.Tensor, got {type(z).__name__}")
        if z.dim() != 2 or z.shape[1] != self.latent_dim:
            raise ValueError(f"{name}: expected shape (B, {self.latent_dim}), got {tuple(z.shape)}")
        self._check_values(z, name, limit=None)

    def _check_values(self, x: Tensor, name: str, limit: float | None) -> None:
        """Dtype, then finiteness (and range) in one reduction: NaN in, NaN out would pass silently."""
        if not x.is_floating_point():
            raise TypeError(f"{name}: expected a floating-point tensor, got dtype {x.dtype}")
        if x.dtype != self.dtype and not torch.is_autocast_enabled(x.device.type):  # autocast mixes dtypes
            raise TypeError(
                f"{name}: dtype {x.dtype}, but the model computes in {self.dtype}; pass {name}.to({self.dtype})"
            )
        if not x.numel():
            return
        largest = float(x.detach().abs().amax())
        if not math.isfinite(largest):
            bad = int((~torch.isfinite(x.detach())).sum())
            raise ValueError(f"{name}: {bad} of {x.numel()} values are NaN or infinite")
        if limit is not None and largest > limit:
            raise ValueError(
                f"{name}: values must lie in [-1, 1], got [{float(x.min()):.4g}, {float(x.max()):.4g}]; "
                "for 0..255 data pass uint8 images through genae.data.fit_images"
            )

    # -- the user-facing operations -----------------------------------------------------------------
    def encode(self, x: Tensor) -> Tensor:
        self.check_images(x)
        return self.encoder(x)

    def decode(self, z: Tensor) -> Tensor:
        """Images in ``[-1, 1]``: raw decoder outputs are clamped so every caller gets displayable images."""
        self.check_latents(z)
        return self.decoder(z).clamp(-1, 1)

    def reconstruct(self, x: Tensor) -> Tensor:
        return self.decode(self.encode(x))

    def forward(self, x: Tensor) -> Tensor:
        """``model(x)`` reconstructs, as ``AutoencoderKL(x)`` does in diffusers."""
        return self.reconstruct(x)

    def compile_targets(self) -> dict[str, nn.Module]:
        """Submodules (by name) that ``Trainer(compile=True)`` compiles in place with ``torch.compile``.

        Empty by default: compiling only pays where a module's own ``forward`` carries most of a step, takes
        tensors only and keeps one shape per run. The automodulator's blocks, whose noise comes from a
        ``torch.Generator`` and whose shapes change per call, trained no faster compiled
        (benchmarks/results/automodulator-speed.md), so a family opts in only after measuring a gain.
        """
        return {}

    def sample(
        self, n: int, generator: torch.Generator | None = None, device: torch.device | str | None = None
    ) -> Tensor:
        if not isinstance(n, int) or n < 1:
            raise ValueError(f"n: expected a positive int, got {n!r}")
        z = self.prior.sample(n, generator=generator, device=device or self.device)
        return self.decode(z)

    # -- the style space: where inversion optimises and interpolation walks ------------------------------
    def style_space(self) -> GenerativeAutoencoder:
        """This model seen in the space its decoder's style slots read.

        In that space ``encode`` gives style latents, ``prior.sample`` draws them, ``mean_w`` (where present) is
        their mean and ``decoder.forward_styles`` takes one per slot. The default is the model itself, whose
        latents already are the styles (the automodulator's z; StyleGAN2's W, as its prior contains the mapping).
        A model that maps its latents before the slots (LIA's flow) returns a view in the mapped space, so that
        :func:`genae.invert` and :meth:`interpolate` work where the model's paper works.
        """
        return self

    def to_style_space(self, z: Tensor) -> Tensor:
        """Prior latents ``(B, latent_dim)`` as latents of :meth:`style_space` (the identity by default)."""
        return z

    def interpolate(self, z_a: Tensor, z_b: Tensor, steps: int = 8) -> Tensor:
        """Decode ``steps`` points from each ``z_a`` to ``z_b`` (prior latents): ``(B, steps, C, H, W)``.

        The path runs in :meth:`style_space`: a great circle where its prior is spherical (a straight line would
        leave the sphere), a straight line otherwise (LIA: in w, as its paper interpolates).
        """
        from genae.priors import lerp, slerp

        self.check_latents(z_a, "z_a")
        self.check_latents(z_b, "z_b")
        if z_a.shape != z_b.shape:
            raise ValueError(f"z_b: expected the shape of z_a {tuple(z_a.shape)}, got {tuple(z_b.shape)}")
        if not isinstance(steps, int) or isinstance(steps, bool) or steps < 2:
            raise ValueError(f"steps: expected an int >= 2, got {steps!r}")
        space = self.style_space()
        a, b = self.to_style_space(z_a), self.to_style_space(z_b)
        path = slerp if space.prior.is_spherical else lerp
        ts = torch.linspace(0, 1, steps, dtype=a.dtype, device=a.device)
        points = torch.stack([path(a, b, t) for t in ts], dim=1)  # (B, steps, D)
        return space.decode(points.flatten(0, 1)).unflatten(0, (z_a.shape[0], steps))

    def resolve_style_range(self, spec: StyleRange) -> tuple[int, int]:
        """Turn a named range, ``(start, stop)`` or ``range`` into validated slot bounds."""
        decoder = self._style_decoder()
        named = decoder.style_ranges
        valid = f"named ranges {named} or (start, stop) with 0 <= start < stop <= {decoder.num_styles}"
        if isinstance(spec, str):
            if spec not in named:
                raise ValueError(f"unknown style range {spec!r}; valid: {valid}")
            start, stop = named[spec]
        elif isinstance(spec, range) and spec.step == 1:
            start, stop = spec.start, spec.stop
        elif isinstance(spec, (tuple, list)) and len(spec) == 2 and all(isinstance(v, int) for v in spec):
            start, stop = spec
        else:
            raise ValueError(f"style range {spec!r} is not understood; valid: {valid}")
        if not 0 <= start < stop <= decoder.num_styles:
            raise ValueError(f"style range {spec!r} is outside this model's slots; valid: {valid}")
        return start, stop

    def mix_styles(self, latents: Sequence[Tensor], ranges: Sequence[StyleRange]) -> list[Tensor]:
        """Per-slot latents where ``latents[i]`` drives the slots of ``ranges[i]``.

        One range may be ``None``: it takes every slot the others leave. Overlaps and uncovered slots
        are errors, so a mix always means exactly what it says.
        """
        decoder = self._style_decoder()
        if len(latents) != len(ranges) or not latents:
            raise ValueError(
                f"mix: need one range per latent, got {len(latents)} latents and {len(ranges)} ranges"
            )
        if sum(r is None for r in ranges) > 1:
            raise ValueError("mix: at most one range may be None (the remaining slots)")
        owner: list[int | None] = [None] * decoder.num_styles
        for index, spec in enumerate(ranges):
            if spec is None:
                continue
            start, stop = self.resolve_style_range(spec)
            for slot in range(start, stop):
                if owner[slot] is not None:
                    raise ValueError(f"mix: slot {slot} is claimed by ranges {ranges[owner[slot]]!r} and {spec!r}")
                owner[slot] = index
        rest = [i for i, r in enumerate(ranges) if r is None]
        for slot, who in enumerate(owner):
            if who is None:
                if not rest:
                    raise ValueError(
                        f"mix: slot {slot} is not covered by any range; give a None range for 'the rest'"
                    )
                owner[slot] = rest[0]
        for index, z in enumerate(latents):
            self.check_latents(z, name=f"latents[{index}]")
        return [latents[who] for who in owner]  # type: ignore[index]

    def mix(self, latents: Sequence[Tensor], ranges: Sequence[StyleRange]) -> Tensor:
        """Decode a style mix: ``latents[i]`` drives the slots named by ``ranges[i]``."""
        styles = self.mix_styles(latents, ranges)
        return self._style_decoder().forward_styles(styles).clamp(-1, 1)

    def _style_decoder(self) -> StyleDecoder:
        if not isinstance(self.decoder, StyleDecoder):
            raise TypeError(
                f"{self.architecture or type(self).__name__} has a {type(self.decoder).__name__}, "
                "which is not style-based: style mixing needs a StyleDecoder"
            )
        return self.decoder

    # -- weights ------------------------------------------------------------------------------------
    def save_pretrained(
        self,
        path: str | Path,
        card: Mapping[str, Any] | None = None,
        *,
        push_to_hub: bool = False,
        repo_id: str | None = None,
        **push_options: Any,
    ) -> Path:
        """Write ``config.json``, ``model.safetensors`` and a ``README.md`` model card to ``path``; with
        ``push_to_hub=True`` also upload the folder to ``repo_id`` (``push_options`` as in :meth:`push_to_hub`)."""
        from genae.hub import save_pretrained

        return save_pretrained(self, path, card=card, push_to_hub=push_to_hub, repo_id=repo_id, **push_options)

    @classmethod
    def from_pretrained(
        cls,
        name_or_path: str | Path,
        device: torch.device | str | None = None,
        **options: Any,
    ) -> GenerativeAutoencoder:
        """A local folder, a Hub repo id (``org/repo``) or a registered name, as ``huggingface_hub`` users expect;
        ``Automodulator.from_pretrained(...)`` also checks that the weights are an Automodulator. ``options`` are
        :func:`genae.load`'s (``dtype``, ``revision``, ``token``, ``cache_dir``, ``local_files_only``,
        ``force_download``)."""
        from genae.hub import from_pretrained

        return from_pretrained(cls, name_or_path, device=device, **options)

    def push_to_hub(
        self,
        repo_id: str,
        *,
        private: bool = False,
        token: str | None = None,
        commit_message: str | None = None,
        revision: str | None = None,
        create_pr: bool = False,
    ) -> str:
        """Save this model (safetensors, config, card) and upload it to the Hub as ``repo_id``; returns the commit
        URL (the pull request's with ``create_pr=True``)."""
        from genae.hub import push_model_to_hub

        return push_model_to_hub(self, repo_id, private=private, token=token, commit_message=commit_message,
                                 revision=revision, create_pr=create_pr)
