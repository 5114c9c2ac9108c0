"""A prior fitted to where a trained encoder actually puts images: ex-post density estimation.

Why: a generative autoencoder samples well only where its decoder was trained, i.e. where the encoder put the
training images. When the encoder's codes do not fill the paper's prior (a small or short run; an adversarial
prior-matching game that did not converge), prior samples land between garments and decode to blobs, while
reconstructions are sharp. Fitting a Gaussian mixture to the encoder's codes and sampling from it (Ghosh et al.
2020, "From variational to deterministic autoencoders") samples where the decoder is good, at no training cost.

:func:`fit_prior` replaces ``model.prior`` by a :class:`GaussianMixturePrior` that keeps the original prior as
``base`` (whose geometry it keeps: draws of a spherical base's model are projected onto the sphere). The fit is
saved with the model: its tensors in the safetensors file, its description under ``"prior"`` in config.json.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

import torch
from torch import Tensor
from torch.utils.data import Dataset

from genae.cards import strip_local_paths
from genae.interfaces import GenerativeAutoencoder, Prior
from genae.mixture import MixtureFit, fit_gaussian_mixture, mixture_log_prob
from genae.priors import _check_n, _standard_normal
from genae.progress import progress_bar

KIND = "gaussian-mixture"
MAX_COMPONENTS = 1024


class GaussianMixturePrior(Prior):
    """A full-covariance Gaussian mixture over a model's latents, optionally projected onto the unit sphere.

    ``weights (K,)``, ``means (K, D)`` and ``scale_tril (K, D, D)`` are buffers (saved, moved with the model);
    ``fitted_on`` says what the mixture was fitted to (JSON).
    """

    def __init__(self, base: Prior, components: int, fitted_on: Mapping[str, Any] | None = None) -> None:
        super().__init__()
        if isinstance(base, GaussianMixturePrior):
            raise TypeError("base: expected the model's own prior, got another fitted prior")
        self.base = base
        self.latent_dim = int(base.latent_dim)
        self.components = components
        self.fitted_on = dict(fitted_on or {})
        d = self.latent_dim
        self.register_buffer("weights", torch.full((components,), 1.0 / components))
        self.register_buffer("means", torch.zeros(components, d))
        self.register_buffer("scale_tril", torch.eye(d).repeat(components, 1, 1))

    @property
    def is_spherical(self) -> bool:
        return self.base.is_spherical

    @property
    def has_log_prob(self) -> bool:
        return not self.is_spherical

    def load_fit(self, fit: MixtureFit) -> None:
        if tuple(fit.means.shape) != tuple(self.means.shape):
            raise ValueError(f"fit: expected means of shape {tuple(self.means.shape)}, got {tuple(fit.means.shape)}")
        for name in ("weights", "means", "scale_tril"):
            buffer = getattr(self, name)
            buffer.copy_(getattr(fit, name).to(device=buffer.device, dtype=buffer.dtype))

    def sample(self, n: int, generator: torch.Generator | None = None, device: torch.device | str | None = None) -> Tensor:
        _check_n(n)
        # Draw on the generator's device, compute on the buffers': the same numbers on any target device.
        gen_device = generator.device if generator is not None else torch.device("cpu")
        chosen = torch.multinomial(self.weights.to(gen_device, torch.float64), n, replacement=True,
                                   generator=generator).to(self.means.device)
        noise = _standard_normal(n, self.latent_dim, generator, self.means.device).to(self.means.dtype)
        z = self.means[chosen] + (self.scale_tril[chosen] @ noise[:, :, None])[:, :, 0]
        if self.is_spherical:
            z = torch.nn.functional.normalize(z, dim=1)
        return z.to(device or self.means.device)

    def log_prob(self, z: Tensor) -> Tensor:
        if self.is_spherical:
            raise TypeError("GaussianMixturePrior projected onto the sphere has no closed-form log-density")
        return mixture_log_prob(z, self.weights, self.means, self.scale_tril)

    def to_spec(self) -> dict[str, Any]:
        """What config.json records under ``"prior"``: enough to rebuild the buffers' shapes, and the provenance."""
        return {"kind": KIND, "components": self.components, "latent_dim": self.latent_dim,
                "fitted_on": self.fitted_on}

    def describe(self) -> str:
        """One line for the model card."""
        on = self.fitted_on
        where = f"{on.get('data', 'images')} ({on['images']:,} images)" if "images" in on else on.get("data", "images")
        shape = ", projected onto the unit sphere" if self.is_spherical else ""
        return (f"{self.components}-component Gaussian mixture fitted to the encoder's codes of {where}{shape} "
                f"(`genae fit-prior`); the architecture's own prior is {type(self.base).__name__}, "
                "`model.prior.base`")


def _is_int_in(value: Any, low: int, high: float = float("inf")) -> bool:
    """A real int (not a bool) in ``[low, high]``."""
    return isinstance(value, int) and not isinstance(value, bool) and low <= value <= high


def prior_spec(model: GenerativeAutoencoder) -> dict[str, Any] | None:
    """The ``"prior"`` entry of a model's config.json: None unless its prior was fitted."""
    prior = getattr(model, "prior", None)
    return prior.to_spec() if isinstance(prior, GaussianMixturePrior) else None


def apply_prior_spec(model: GenerativeAutoencoder, spec: Any, where: str = "config.json") -> None:
    """Give a freshly built model the fitted prior a saved folder records (its values come with the weights)."""
    if spec is None:
        return
    if not isinstance(spec, Mapping) or spec.get("kind") != KIND:
        raise ValueError(f"{where}: 'prior' must be an object with kind {KIND!r}, got {spec!r:.80}")
    components, dim = spec.get("components"), spec.get("latent_dim")
    if not _is_int_in(components, 1, MAX_COMPONENTS):
        raise ValueError(f"{where}: prior 'components' must be an int in [1, {MAX_COMPONENTS}], got {components!r:.40}")
    if dim != model.prior.latent_dim:
        raise ValueError(f"{where}: prior 'latent_dim' {dim!r:.40} does not match the model's {model.prior.latent_dim}")
    fitted_on = spec.get("fitted_on") or {}
    if not isinstance(fitted_on, Mapping):
        raise ValueError(f"{where}: prior 'fitted_on' must be an object, got {type(fitted_on).__name__}")
    model.prior = GaussianMixturePrior(model.prior, components, fitted_on).to(model.device)


def fit_prior(
    model: GenerativeAutoencoder,
    data: str | os.PathLike | Tensor | Dataset,
    *,
    components: int = 10,
    limit: int | None = None,
    seed: int = 0,
    batch_size: int = 256,
    max_iterations: int = 200,
    progress: bool = True,
) -> GenerativeAutoencoder:
    """Fit a :class:`GaussianMixturePrior` to ``model``'s codes of ``data`` and make it the model's prior.

    ``data``: a dataset name or path (``str`` or ``Path``; its train split, at the model's shape), a dataset of ``(image, label)``
    pairs, or an image tensor ``(N, C, H, W)`` in ``[-1, 1]``; ``limit`` keeps its first images. A model whose
    prior was fitted before is refitted from its base prior. Returns ``model`` (changed in place), whose
    ``sample`` then draws from the mixture; ``model.prior.base`` keeps the architecture's own prior.
    """
    if not isinstance(model, GenerativeAutoencoder):
        raise TypeError(f"model: expected a genae GenerativeAutoencoder, got {type(model).__name__}")
    if not _is_int_in(components, 1, MAX_COMPONENTS):
        raise ValueError(f"components: expected an int in [1, {MAX_COMPONENTS}], got {components!r}")
    for name, value in (("batch_size", batch_size), ("max_iterations", max_iterations)):
        if not _is_int_in(value, 1):
            raise ValueError(f"{name}: expected a positive int, got {value!r}")
    if limit is not None and not _is_int_in(limit, 1):
        raise ValueError(f"limit: expected a positive int or None, got {limit!r}")
    images, fitted_on = _training_images(model, data, limit)
    codes = _encode_all(model, images, batch_size, progress)
    with progress_bar(max_iterations, desc="fitting prior (EM)", enabled=progress) as bar:
        fit = fit_gaussian_mixture(codes, components, generator=torch.Generator().manual_seed(seed),
                                   max_iterations=max_iterations, on_iteration=lambda i, ll: bar.update(1))
    base = model.prior.base if isinstance(model.prior, GaussianMixturePrior) else model.prior
    fitted_on = {**fitted_on, "images": len(codes), "seed": seed, "log_likelihood": round(fit.log_likelihood, 4),
                 "iterations": fit.iterations, "converged": fit.converged}
    prior = GaussianMixturePrior(base, components, fitted_on).to(model.device)
    prior.load_fit(fit)
    model.prior = prior
    model.card = {**model.card, "prior": prior.describe()}
    return model


def _training_images(model: GenerativeAutoencoder, data: Any, limit: int | None) -> tuple[Any, dict[str, Any]]:
    """``data`` as something indexable of images, and what the card records about it."""
    if isinstance(data, Tensor):
        model.check_images(data, "data")
        images = data[:limit] if limit else data
        return images, {"data": f"a tensor of {len(images)} images"}
    name = None
    if isinstance(data, (str, os.PathLike)):
        from genae.data import open_dataset

        name = f"{strip_local_paths(str(data))} (train split)"
        data = open_dataset(data, split="train", resolution=model.resolution, channels=model.channels, limit=limit)
        limit = None
    if not hasattr(data, "__getitem__") or not hasattr(data, "__len__"):
        raise TypeError(f"data: expected a dataset name, a dataset of (image, label) pairs or an image tensor, "
                        f"got {type(data).__name__}")
    size = len(data) if limit is None else min(limit, len(data))
    # No local paths: config.json and the card are published with the model.
    description = strip_local_paths(getattr(data, "description", type(data).__name__))
    record: dict[str, Any] = {"data": name or description, "description": description}
    if callable(getattr(data, "content_hash", None)) and limit is None:
        record["content_hash"] = data.content_hash()
    return _DatasetImages(data, size), record


class _DatasetImages:
    """The images of the first ``size`` items of a dataset of ``(image, label)`` pairs, sliceable by batch."""

    def __init__(self, dataset: Any, size: int) -> None:
        self.dataset, self.size = dataset, size

    def __len__(self) -> int:
        return self.size

    def __getitem__(self, window: slice) -> Tensor:
        return torch.stack([self.dataset[i][0] for i in range(*window.indices(self.size))])


@torch.no_grad()
def _encode_all(model: GenerativeAutoencoder, images: Any, batch_size: int, progress: bool) -> Tensor:
    was_training = model.training
    model.eval()
    codes = []
    try:
        with progress_bar(len(images), desc="encoding", unit="img", enabled=progress) as bar:
            for start in range(0, len(images), batch_size):
                batch = images[start:start + batch_size].to(model.device, model.dtype)
                model.check_images(batch, "data")
                codes.append(model.encode(batch).to(torch.float64))
                bar.update(len(batch))
    finally:
        model.train(was_training)
    return torch.cat(codes)
