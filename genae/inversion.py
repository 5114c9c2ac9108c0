"""``genae.invert``: find the latents that make a style-based decoder reproduce given images.

Works on any model whose decoder is a :class:`~genae.interfaces.StyleDecoder` (the automodulator, LIA,
StyleGAN2, the AdaIN baselines): everything goes through ``decoder.forward_styles``. Two methods:

- ``"encoder"``: the model's own encoder (or any callable given as ``init``), no optimisation;
- ``"optimise"``: the NVIDIA/rosinality projector recipe — Adam at ``lr`` (0.1) with a linear warm-up over
  the first 5% of the steps and a cosine ramp-down over the last 25%, Gaussian noise of
  ``0.05·σ_w·max(0, 1 − t/0.75)²`` added to the latents (σ_w: spread of the model's latent distribution),
  and, where the decoder has per-layer noise inputs, the noise maps optimised too under a ``1e5 ×``
  squared-autocorrelation penalty over a downsampling pyramid, renormalised to zero mean and unit variance
  after each step. Starts from the mean latent, a random draw, the encoder's output, or a given tensor.

Latent space: the model's declared style space, ``model.style_space()`` (the automodulator's z; StyleGAN2's W,
whose prior includes the mapping; LIA's w after the flow): every step below uses that view's encoder, prior,
``mean_w`` and decoder, so the latents returned are what its ``decoder.forward_styles`` reads. ``space="w"``
optimises one latent per image used in every slot; ``space="w+"`` one latent per slot. Optional hooks a
style space may offer: ``mean_w(n)`` (the mean latent), ``encode_styles(images)`` (per-slot latents
``(B, S, D)`` from its encoder), and on the decoder ``noise_shapes`` plus ``forward_styles(styles, noise=...)``
(optimisable noise maps).

Every image is inverted independently: losses are per image and summed, Adam's updates are per coordinate,
each image draws its randomness from its own seed, and noise maps are renormalised per image, so a batch
solves the same problem as its images one by one (the floats differ in reduction order, which Adam can
amplify along directions the loss barely constrains; the reconstructions' quality is the same). Batching
only buys speed.

The default loss is ``"mse"``: it needs no weights file and means the same thing on every domain and
resolution. ``"lpips-vgg"`` (the projector's loss) needs torchvision's VGG-16 ImageNet file and the LPIPS
heads, downloaded on first use (offline: pre-seed them, docs/metrics.md); ``"fashion-mnist-features"`` (the shipped domain network) is a perceptual
space for Fashion-MNIST-like images only. Losses combine as ``{"mse": 1.0, "lpips-vgg": 1.0}``.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Union

import torch
from torch import Tensor
from torch.nn import functional as F

from genae.interfaces import GenerativeAutoencoder, StyleDecoder
from genae.nets.freezing import frozen

__all__ = [
    "FeatureLoss", "InversionResult", "LPIPSLoss", "PixelMSE", "WeightedLoss", "invert", "make_loss",
    "noise_regularization", "projector_lr",
]

METHODS = {"optimise": "optimise", "optimize": "optimise", "encoder": "encoder"}
SPACES = ("w", "w+")
INITS = ("mean", "random", "encoder")
#: Latent draws used to estimate the mean latent and σ_w (the projector uses 10,000).
MEAN_SAMPLES = 10_000
#: Perceptual losses see images at most this large (the projector's 256 px rule).
PERCEPTUAL_MAX_SIDE = 256

ImageLoss = Callable[[Tensor, Tensor], Tensor]
LossSpec = Union[str, ImageLoss, Mapping[Union[str, ImageLoss], float]]
InitSpec = Union[str, Tensor, Callable[[Tensor], Tensor]]


# -- losses: each maps (output, target) batches to one value per image ---------------------------------
class PixelMSE:
    """Mean squared pixel error per image."""

    name = "mse"

    def __call__(self, output: Tensor, target: Tensor) -> Tensor:
        return (output - target).square().flatten(1).mean(1)


def _shrink(images: Tensor, max_side: int) -> Tensor:
    """Area-downsample images larger than ``max_side`` (the projector's rule before a perceptual loss)."""
    side = max(images.shape[-2:])
    if side <= max_side:
        return images
    factor = math.ceil(side / max_side)
    return F.avg_pool2d(images, kernel_size=factor)


class FeatureLoss:
    """Mean squared distance in a :class:`~genae.metrics.FeatureExtractor`'s space (default: the shipped
    Fashion-MNIST network, a perceptual space on that domain only)."""

    def __init__(self, extractor: Any = "fashion-mnist-features", device: torch.device | str = "cpu") -> None:
        from genae.metrics import get_extractor
        from genae.metrics.extractors import FashionMNISTFeatures

        if isinstance(extractor, str):
            extractor = get_extractor(extractor, device=device)
        if not isinstance(extractor, FashionMNISTFeatures):
            raise TypeError(f"extractor: expected the name or an instance of fashion-mnist-features, "
                            f"got {type(extractor).__name__}")
        self.extractor = extractor
        self.name = extractor.label

    def features(self, images: Tensor) -> Tensor:
        """Differentiable features (the extractor's own ``__call__`` runs without gradients)."""
        from genae.metrics.fashion_cnn import to_network_input

        return self.extractor.network.features(to_network_input(images))

    def __call__(self, output: Tensor, target: Tensor) -> Tensor:
        return (self.features(output) - self.features(target)).square().mean(1)


class LPIPSLoss:
    """LPIPS distance per image on images downsampled to at most 256 px (the projector's loss with VGG)."""

    def __init__(self, lpips: Any = "vgg", device: torch.device | str = "cpu",
                 max_side: int = PERCEPTUAL_MAX_SIDE) -> None:
        from genae.metrics import LPIPS

        self.lpips = LPIPS(lpips, device=device) if isinstance(lpips, str) else lpips
        if not isinstance(self.lpips, LPIPS):
            raise TypeError(f"lpips: expected 'vgg', 'alex' or a genae.metrics.LPIPS, got {type(lpips).__name__}")
        self.max_side = max_side
        self.name = self.lpips.label

    def __call__(self, output: Tensor, target: Tensor) -> Tensor:
        return self.lpips(_shrink(output, self.max_side), _shrink(target, self.max_side))


@dataclass
class WeightedLoss:
    """A weighted sum of per-image losses; ``terms`` maps each loss to its weight."""

    terms: list[tuple[ImageLoss, float]]

    @property
    def name(self) -> str:
        return " + ".join(f"{w:g}·{getattr(loss, 'name', type(loss).__name__)}" for loss, w in self.terms)

    def __call__(self, output: Tensor, target: Tensor) -> Tensor:
        return sum(weight * loss(output, target) for loss, weight in self.terms)  # type: ignore[return-value]


LOSSES: dict[str, Callable[[torch.device | str], ImageLoss]] = {
    "mse": lambda device: PixelMSE(),
    "fashion-mnist-features": lambda device: FeatureLoss("fashion-mnist-features", device=device),
    "lpips-vgg": lambda device: LPIPSLoss("vgg", device=device),
    "lpips-alex": lambda device: LPIPSLoss("alex", device=device),
}


def make_loss(spec: LossSpec, device: torch.device | str = "cpu") -> ImageLoss:
    """Build a per-image loss from a name in :data:`LOSSES`, a callable, or ``{name or callable: weight}``."""
    if isinstance(spec, str):
        if spec not in LOSSES:
            raise ValueError(f"loss: unknown name {spec!r}; known: {sorted(LOSSES)}, a callable, or a dict of weights")
        return LOSSES[spec](device)
    if isinstance(spec, Mapping):
        if not spec:
            raise ValueError("loss: the dict of weighted losses is empty")
        terms = []
        for key, weight in spec.items():
            if isinstance(weight, bool) or not isinstance(weight, (int, float)) or weight < 0:
                raise ValueError(f"loss: weight of {key!r} must be a non-negative number, got {weight!r}")
            terms.append((make_loss(key, device), float(weight)))
        return WeightedLoss(terms)
    if callable(spec):
        return spec
    raise TypeError(f"loss: expected a name, a callable or a dict of weights, got {type(spec).__name__}")


# -- the projector's pieces -------------------------------------------------------------------------
def projector_lr(t: float, lr: float, rampup: float = 0.05, rampdown: float = 0.25) -> float:
    """Learning rate at progress ``t`` ∈ [0, 1]: linear warm-up, flat, cosine ramp-down to 0."""
    ramp = min(1.0, (1.0 - t) / rampdown)
    ramp = 0.5 - 0.5 * math.cos(ramp * math.pi)
    return lr * ramp * min(1.0, t / rampup)


def noise_regularization(noise: Sequence[Tensor]) -> Tensor:
    """Per-image sum of squared one-pixel autocorrelations of each noise map over a 2× pyramid down to 8 px.

    Keeps optimised noise maps noise-like, so they cannot smuggle image content past the latents.
    """
    total: Tensor | int = 0
    for level in noise:
        while True:
            total = total + (level * level.roll(1, dims=3)).mean((1, 2, 3)).square()
            total = total + (level * level.roll(1, dims=2)).mean((1, 2, 3)).square()
            if level.shape[-1] <= 8:
                break
            level = F.avg_pool2d(level, 2)
    return total  # type: ignore[return-value]


@torch.no_grad()
def _renormalize(noise: Sequence[Tensor]) -> None:
    for level in noise:
        mean = level.mean((1, 2, 3), keepdim=True)
        std = level.std((1, 2, 3), keepdim=True)
        level.sub_(mean).div_(std)


# -- the result ---------------------------------------------------------------------------------------
@dataclass
class InversionResult:
    """What :func:`invert` found. ``latents`` is ``(B, num_styles, D)`` (identical slots for ``space="w"``)."""

    latents: Tensor
    reconstructions: Tensor  # decoded from ``latents`` (and ``noise``), clamped to [-1, 1]
    initial_reconstructions: Tensor  # decoded from the starting point
    losses: Tensor  # (steps, B): each step's reconstruction loss per image (empty for method="encoder")
    noise: list[Tensor] | None = None  # (B, 1, H, W) per noise layer, where the decoder has noise inputs
    space: str = "w+"
    method: str = "optimise"
    loss_name: str = "mse"
    seconds: float = 0.0
    info: dict[str, Any] = field(default_factory=dict)

    @property
    def styles(self) -> list[Tensor]:
        """Per-slot latents as ``forward_styles`` takes them."""
        return list(self.latents.unbind(1))

    def tensors(self) -> dict[str, Tensor]:
        out = {"latents": self.latents, "reconstructions": self.reconstructions, "losses": self.losses}
        for index, level in enumerate(self.noise or []):
            out[f"noise.{index}"] = level
        return {k: v.detach().cpu().contiguous() for k, v in out.items()}

    def save(self, path: str | Path) -> Path:
        """Write every tensor to one safetensors file (atomically), with space/method/loss as metadata."""
        from safetensors.torch import save_file

        from genae.io import atomic_path

        path = Path(path)
        metadata = {"space": self.space, "method": self.method, "loss": self.loss_name, "seconds": f"{self.seconds:.3f}"}
        with atomic_path(path) as tmp:
            save_file(self.tensors(), str(tmp), metadata=metadata)
        return path


# -- helpers shared by every method ----------------------------------------------------------------
def _style_decoder(model: Any) -> StyleDecoder:
    if not isinstance(model, GenerativeAutoencoder):
        raise TypeError(f"model: expected a genae model (GenerativeAutoencoder), got {type(model).__name__}")
    if not isinstance(model.decoder, StyleDecoder):
        raise TypeError(f"model: {model.architecture or type(model).__name__} has a {type(model.decoder).__name__}; "
                        "inversion needs a style-based decoder (StyleDecoder.forward_styles)")
    return model.decoder


def latent_statistics(model: GenerativeAutoencoder, n: int = MEAN_SAMPLES) -> tuple[Tensor, float]:
    """The mean latent ``(D,)`` and σ_w = sqrt(E‖w − mean‖²) of the model's latent distribution.

    Uses ``model.mean_w(n)`` for the mean where the model has it; the draws are seeded (seed 0), so the
    statistics of one model are always the same.
    """
    with torch.no_grad():
        draws = model.prior.sample(n, generator=torch.Generator().manual_seed(0), device=model.device)
        mean = model.mean_w(n).reshape(-1) if hasattr(model, "mean_w") else draws.mean(0)
        sigma = float((draws - mean).square().sum(1).mean().sqrt())
    return mean.to(draws.dtype), sigma


def _encode(model: GenerativeAutoencoder, images: Tensor, encoder: InitSpec) -> Tensor:
    """``(B, D)`` or ``(B, S, D)`` latents from the model's encoder or a given callable."""
    if callable(encoder):
        return encoder(images)
    if hasattr(model, "encode_styles"):
        return model.encode_styles(images)
    return model.encode(images)


def _initial_latents(model: GenerativeAutoencoder, images: Tensor, init: InitSpec, space: str, num_styles: int,
                     mean: Tensor, generators: Sequence[torch.Generator]) -> Tensor:
    batch, dim = images.shape[0], model.latent_dim
    if isinstance(init, Tensor):
        start = init.to(images.device, images.dtype)
    elif isinstance(init, str):
        if init not in INITS:
            raise ValueError(f"init: expected one of {INITS}, a tensor or a callable, got {init!r}")
        if init == "mean":
            start = mean.expand(batch, dim)
        elif init == "random":
            start = torch.cat([model.prior.sample(1, generator=g, device=images.device) for g in generators])
        else:
            start = _encode(model, images, init)
    elif callable(init):
        start = _encode(model, images, init)
    else:
        raise TypeError(f"init: expected one of {INITS}, a tensor or a callable, got {type(init).__name__}")
    if start.dim() == 2:
        start = start[:, None, :]
    if start.dim() != 3 or start.shape[0] != batch or start.shape[2] != dim or start.shape[1] not in (1, num_styles):
        raise ValueError(f"init: expected latents of shape ({batch}, {dim}) or ({batch}, {num_styles}, {dim}), "
                         f"got {tuple(start.shape)}")
    start = start.detach().to(images.dtype)
    if space == "w":
        return start.mean(1, keepdim=True).clone()
    return start.expand(batch, num_styles, dim).clone()


def _decode(decoder: StyleDecoder, latents: Tensor, noise: list[Tensor] | None) -> Tensor:
    styles = list(latents.expand(-1, decoder.num_styles, -1).unbind(1))
    if noise is None:
        return decoder.forward_styles(styles)
    return decoder.forward_styles(styles, noise=noise)  # type: ignore[call-arg]


def _draw(shape: Sequence[int], generators: Sequence[torch.Generator], like: Tensor) -> Tensor:
    """``(B, *shape)`` standard-normal draws, image ``i``'s from ``generators[i]``: chunking changes nothing."""
    draws = [torch.randn(tuple(shape), generator=g, device=g.device) for g in generators]
    return torch.stack(draws).to(like.device, like.dtype)


def _check_images(model: GenerativeAutoencoder, images: Tensor) -> None:
    model.check_images(images)
    if images.shape[0] < 1:
        raise ValueError("images: expected at least one image, got an empty batch")


def _check_number(name: str, value: Any, integer: bool = False, allow_zero: bool = False) -> None:
    kinds = (int,) if integer else (int, float)
    if isinstance(value, bool) or not isinstance(value, kinds) or not (value >= 0 if allow_zero else value > 0):
        sign = "non-negative" if allow_zero else "positive"
        raise ValueError(f"{name}: expected a {sign} {'int' if integer else 'number'}, got {value!r}")


# -- the public door -----------------------------------------------------------------------------------
def invert(
    model: GenerativeAutoencoder,
    images: Tensor,
    method: str = "optimise",
    *,
    space: str = "w+",
    steps: int = 1000,
    init: InitSpec = "mean",
    loss: LossSpec = "mse",
    lr: float = 0.1,
    latent_noise: float = 0.05,
    noise_ramp: float = 0.75,
    noise_regularize: float = 1e5,
    optimise_noise: bool = True,
    batch_size: int | None = None,
    generator: torch.Generator | None = None,
    device: torch.device | str | None = None,
    progress: bool = False,
) -> InversionResult:
    """Invert ``images`` ``(B, C, H, W)`` in ``[-1, 1]`` into the latents of ``model.style_space()`` (module doc).

    ``method="encoder"`` returns the encoder's latents (``init`` may name another encoder callable);
    ``"optimise"`` runs ``steps`` projector steps from ``init`` (``"mean"``, ``"random"``, ``"encoder"``, a
    tensor ``(B, D)``/``(B, S, D)``, or a callable images → latents such as a learned inversion encoder; given
    latents are style-space latents).
    ``generator`` seeds random starts, latent noise and noise-map starts (default: seed 0, so results
    repeat); it draws one seed per image, so ``batch_size`` does not change any image's draws. ``device`` moves the model there (in place, as ``nn.Module.to`` does). ``batch_size`` inverts
    in chunks of that many images (independent either way).
    """
    _style_decoder(model)
    if method not in METHODS:
        raise ValueError(f"method: expected one of {sorted(METHODS)}, got {method!r}")
    method = METHODS[method]
    if space not in SPACES:
        raise ValueError(f"space: expected one of {SPACES}, got {space!r}")
    if method == "optimise":
        _check_number("steps", steps, integer=True)
    if method == "encoder" and not (init == "encoder" or (callable(init) and not isinstance(init, Tensor))):
        raise ValueError(f"init: method='encoder' takes init='encoder' or an encoder callable, got {init!r}")
    _check_number("lr", lr)
    _check_number("latent_noise", latent_noise, allow_zero=True)
    _check_number("noise_ramp", noise_ramp)
    _check_number("noise_regularize", noise_regularize, allow_zero=True)
    if batch_size is not None:
        _check_number("batch_size", batch_size, integer=True)
    if generator is not None and not isinstance(generator, torch.Generator):
        raise TypeError(f"generator: expected a torch.Generator or None, got {type(generator).__name__}")
    if device is not None:
        model.to(device)  # the whole model, not only the parts its style space holds
    model = model.style_space()
    decoder = _style_decoder(model)
    if not isinstance(images, Tensor):
        raise TypeError(f"images: expected a torch.Tensor, got {type(images).__name__}")
    images = images.detach().to(model.device)  # targets: never a path for gradients
    _check_images(model, images)
    generator = generator or torch.Generator().manual_seed(0)
    objective = make_loss(loss, device=model.device)
    settings = dict(method=method, space=space, steps=steps if method == "optimise" else 0, init=init,
                    objective=objective, lr=float(lr), latent_noise=float(latent_noise), noise_ramp=float(noise_ramp),
                    noise_regularize=float(noise_regularize), optimise_noise=optimise_noise,
                    progress=progress)
    started = time.perf_counter()
    with frozen(model, eval_mode=True):
        mean, sigma = latent_statistics(model)
        size = batch_size or images.shape[0]
        seeds = torch.randint(0, 2**62, (images.shape[0],), generator=generator).tolist()
        parts = []
        for start in range(0, images.shape[0], size):
            if isinstance(init, Tensor):  # a given start is split with its images
                settings["init"] = init[start : start + size]
            settings["generators"] = [torch.Generator().manual_seed(seed) for seed in seeds[start : start + size]]
            parts.append(_invert_batch(model, decoder, images[start : start + size], mean, sigma, **settings))  # type: ignore[arg-type]
    result = _concatenate(parts)
    result.seconds = time.perf_counter() - started
    result.loss_name = getattr(objective, "name", type(objective).__name__)
    result.info = {"sigma_w": sigma, "lr": lr, "steps": settings["steps"], "batch_size": batch_size or images.shape[0],
                   "init": init if isinstance(init, str) else type(init).__name__}
    return result


def _invert_batch(model: GenerativeAutoencoder, decoder: StyleDecoder, images: Tensor, mean: Tensor, sigma: float, *,
                  method: str, space: str, steps: int, init: InitSpec, objective: ImageLoss, lr: float,
                  latent_noise: float, noise_ramp: float, noise_regularize: float, optimise_noise: bool,
                  generators: Sequence[torch.Generator], progress: bool) -> InversionResult:
    with torch.no_grad():
        latents = _initial_latents(model, images, init, space, decoder.num_styles, mean, generators)
    noise = None
    if optimise_noise and method == "optimise" and hasattr(decoder, "noise_shapes"):
        noise = [_draw((1, *shape), generators, images) for shape in decoder.noise_shapes]
    with torch.no_grad():
        initial = _decode(decoder, latents, noise).clamp(-1, 1)
    trace = torch.empty(steps, images.shape[0])
    if method == "optimise":
        _optimise(decoder, images, latents, noise, trace, sigma, objective=objective, lr=lr, latent_noise=latent_noise,
                  noise_ramp=noise_ramp, noise_regularize=noise_regularize, generators=generators, progress=progress)
    with torch.no_grad():
        final = _decode(decoder, latents, noise).clamp(-1, 1)
    full = latents.detach().expand(-1, decoder.num_styles, -1).contiguous()
    return InversionResult(full, final, initial, trace, [n.detach() for n in noise] if noise else None, space, method)


def _optimise(decoder: StyleDecoder, images: Tensor, latents: Tensor, noise: list[Tensor] | None, trace: Tensor,
              sigma: float, *, objective: ImageLoss, lr: float, latent_noise: float, noise_ramp: float,
              noise_regularize: float, generators: Sequence[torch.Generator], progress: bool) -> None:
    """The projector loop; updates ``latents`` and ``noise`` in place and fills ``trace``."""
    from genae.progress import progress_bar

    latents.requires_grad_(True)
    variables = [latents, *(noise or [])]
    for level in noise or []:
        level.requires_grad_(True)
    optimizer = torch.optim.Adam(variables, lr=lr, betas=(0.9, 0.999))
    steps = trace.shape[0]
    bar = progress_bar(steps, desc="invert", unit="step", enabled=progress, leave=False)
    for step in range(steps):
        t = step / steps
        for group in optimizer.param_groups:
            group["lr"] = projector_lr(t, lr)
        strength = sigma * latent_noise * max(0.0, 1.0 - t / noise_ramp) ** 2
        noisy = latents + _draw(latents.shape[1:], generators, latents) * strength if strength > 0 else latents
        with torch.enable_grad():
            per_image = objective(_decode(decoder, noisy, noise), images)
            total = per_image
            if noise and noise_regularize > 0:
                total = total + noise_regularize * noise_regularization(noise)
            optimizer.zero_grad(set_to_none=True)
            total.sum().backward()
        optimizer.step()
        if noise:
            _renormalize(noise)
        trace[step] = per_image.detach().float().cpu()
        if progress and (step % 10 == 0 or step == steps - 1):
            bar.set_postfix_str(f"loss {float(trace[step].mean()):.4g}")
        bar.update()
    bar.close()
    latents.requires_grad_(False)
    for level in noise or []:
        level.requires_grad_(False)


def _concatenate(parts: list[InversionResult]) -> InversionResult:
    if len(parts) == 1:
        return parts[0]
    first = parts[0]
    noise = None
    if first.noise is not None:
        noise = [torch.cat([p.noise[i] for p in parts]) for i in range(len(first.noise))]  # type: ignore[index]
    return InversionResult(
        torch.cat([p.latents for p in parts]), torch.cat([p.reconstructions for p in parts]),
        torch.cat([p.initial_reconstructions for p in parts]), torch.cat([p.losses for p in parts], dim=1),
        noise, first.space, first.method,
    )
