"""``genae.directions``: SeFa, GANSpace and label-supervised (InterFaceGAN) directions for any genae model.

- ``"sefa"`` (Shen & Zhou 2021): the top eigenvectors of ``AᵀA``, ``A`` the style affine matrices of the chosen
  slots stacked row-wise; closed form, no data. The directions the decoder's first linear maps amplify most.
- ``"ganspace"`` (Härkönen et al. 2020): principal components of codes, either prior draws mapped to the
  style space (``data=None``, models with a mapping: StyleGAN2's W, LIA's ``φ⁻¹(z)``) or encoded training
  images (``data=...``; required where the prior is isotropic, as PCA of its draws has no preferred axes).
- ``"supervised"`` (InterFaceGAN, Shen et al. 2020): the normal of a linear boundary (L2-regularised logistic
  regression, L-BFGS in float64) between the codes of two labelled classes, pointing from ``labels[0]`` to
  ``labels[1]``; ``condition=`` projects another direction (or another class pair's boundary) out of it.

Every direction carries a ``scale``: the standard deviation, along it, of the codes the method saw, so
``strength=3`` in :func:`genae.edit` means three standard deviations on every model. SeFa needs no data for
its directions; its scales come from prior draws, or from encoded images when ``data=`` is given. Give data
when editing real images of a model whose encoder's codes are spread unlike its prior's (the bundled LIA's
encoded ``w`` spread a third as wide as its prior draws along SeFa's top direction, which then overshoots).
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any, Union

import numpy as np
import torch
from torch import Tensor

from genae.editing.directions import Direction, Directions, names_for, unit_rows
from genae.editing.space import EditSpace
from genae.interfaces import StyleRange

METHODS = ("sefa", "ganspace", "supervised")
#: Prior draws behind SeFa's scales and sample-based GANSpace.
PRIOR_SAMPLES = 2000
#: Encoded images per class for the supervised boundary (and in all for data-based GANSpace).
IMAGES_PER_CLASS = 1000
DATA_IMAGES = 2000
#: Ridge penalty of the boundary fit, on standardised codes. A weak one lets the normal lean on code directions
#: of tiny variance that separate the classes but that the decoder barely renders: trouser→dress on the bundled
#: automodulator moved 19% of trousers to dresses at twice the class gap with 1e-3, 97% at the gap with 0.1.
BOUNDARY_L2 = 0.1

DataSpec = Union[str, Path, tuple[Tensor, Tensor], None]
ConditionSpec = Union[Direction, Directions, Tensor, tuple[int, int], None]


def directions(
    model: Any,
    method: str = "sefa",
    *,
    k: int = 5,
    slots: StyleRange = None,
    data: DataSpec = None,
    labels: tuple[int, int] | None = None,
    condition: ConditionSpec = None,
    n: int | None = None,
    seed: int = 0,
) -> Directions:
    """Directions in ``model``'s style-code space (``z`` for plain-latent models).

    ``slots``: the slots the directions act on and (SeFa) whose affines are factorised: a named range
    (``"coarse"``, ``"intermediate"``, ``"fine"``, ``"all"``), ``(start, stop)`` or ``range``; ``None`` = all.
    ``k``: how many directions (SeFa, GANSpace). ``data``: a dataset name or folder (class sub-folders give
    labels; the train split is used) or ``(images, labels)`` tensors; for SeFa it only sets the scales. ``labels``: ``(source, target)`` classes
    for ``"supervised"``. ``n``: codes used (per class for supervised). ``seed``: which images/draws.
    """
    if method not in METHODS:
        raise ValueError(f"method: expected one of {METHODS}, got {method!r}")
    space = EditSpace(model)
    slot_range = space.slot_range(slots)
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise ValueError(f"seed: expected an int, got {seed!r}")
    if n is not None and (isinstance(n, bool) or not isinstance(n, int) or n < 2):
        raise ValueError(f"n: expected an int >= 2 or None, got {n!r}")
    if method != "supervised":
        if isinstance(k, bool) or not isinstance(k, int) or not 1 <= k <= space.dim:
            raise ValueError(f"k: expected an int in [1, {space.dim}] (the code size), got {k!r}")
        for name, value in (("labels", labels), ("condition", condition)):
            if value is not None:
                raise ValueError(f"{name}: only method='supervised' takes it, got {value!r}")
    settings: dict[str, Any] = {"slots": list(slot_range), "seed": seed}
    if method == "sefa":
        vectors, values = _sefa(space, slot_range, k)
        codes, source = _codes_of(space, data, n, seed)
        scales = _spread(codes, vectors)
        names = names_for("sefa", k)
        settings.update(k=k, scale_from=source)
    elif method == "ganspace":
        if data is None and space.name != "w":
            raise ValueError(f"data: GANSpace on {model.architecture or 'this model'} needs data= (encoded "
                             "training images): its prior is isotropic, so PCA of prior draws finds no real axes")
        codes, source = _codes_of(space, data, n, seed)
        vectors, values, scales = _pca(codes, k)
        names = names_for("pc", k)
        settings.update(k=k, codes=source)
    else:
        vectors, values, scales, names, facts = _supervised(space, data, labels, condition, n or IMAGES_PER_CLASS,
                                                            seed)
        settings.update(facts)
    return Directions(vectors, names, scales, values, slot_range, space.num_slots, method, space.name,
                      _provenance(model, settings))


# -- SeFa ---------------------------------------------------------------------------------------------------
def _sefa(space: EditSpace, slots: tuple[int, int], k: int) -> tuple[Tensor, Tensor]:
    weights = space.affine_weights(slots)
    eigenvalues, eigenvectors = torch.linalg.eigh(weights.T @ weights)
    order = eigenvalues.argsort(descending=True)[:k]
    return unit_rows(eigenvectors[:, order].T), eigenvalues[order]


def _spread(codes: Tensor, vectors: Tensor) -> Tensor:
    """Standard deviation of the codes along each vector."""
    return (codes.double() @ vectors.double().T).std(dim=0)


# -- GANSpace (and the codes behind every scale) ----------------------------------------------------------
def _codes_of(space: EditSpace, data: DataSpec, n: int | None, seed: int) -> tuple[Tensor, str]:
    """Codes of ``n`` seeded prior draws (``data=None``) or of ``n`` seeded encoded training images."""
    if data is None:
        count = n or PRIOR_SAMPLES
        return space.sample_codes(count, seed), f"{count} {'mapped ' if space.name == 'w' else ''}prior draws"
    images, _, description, _ = _load_data(space, data, seed)
    count = min(n or DATA_IMAGES, len(images))
    order = torch.randperm(len(images), generator=torch.Generator().manual_seed(seed))[:count]
    return space.encode_codes(images[order]), f"{count} encoded images of {description}"


def _pca(codes: Tensor, k: int) -> tuple[Tensor, Tensor, Tensor]:
    """Top-``k`` principal axes, their explained-variance ratios and standard deviations."""
    if len(codes) <= k:
        raise ValueError(f"n: PCA of {len(codes)} codes cannot give k={k} components; use more codes")
    centred = codes.double() - codes.double().mean(0)
    _, singular, right = torch.linalg.svd(centred, full_matrices=False)
    variance = singular.square() / (len(codes) - 1)
    vectors = unit_rows(right[:k])
    return vectors, variance[:k] / variance.sum(), _spread(codes, vectors)


# -- supervised ---------------------------------------------------------------------------------------------
def _supervised(space: EditSpace, data: DataSpec, labels: Any, condition: ConditionSpec, n: int,
                seed: int) -> tuple[Tensor, Tensor, Tensor, list[str], dict[str, Any]]:
    if data is None:
        raise ValueError("data: method='supervised' needs labelled images: a dataset name such as "
                         "'fashion-mnist', a folder with one sub-folder per class, or (images, labels) tensors")
    pair = _class_pair("labels", labels)
    images, all_labels, description, classes = _load_data(space, data, seed)
    codes, targets = _class_codes(space, images, all_labels, pair, n, seed)
    normal, accuracy = fit_boundary(codes, targets)
    facts: dict[str, Any] = {"data": description, "labels": list(pair), "images_per_class": n,
                             "boundary": "L2 logistic regression on standardised codes",
                             "train_accuracy": round(accuracy, 4)}
    name = f"{classes.get(pair[0], pair[0])}->{classes.get(pair[1], pair[1])}"
    if condition is not None:
        if isinstance(condition, tuple):
            other = _class_pair("condition", condition)
            c_codes, c_targets = _class_codes(space, images, all_labels, other, n, seed)
            against = fit_boundary(c_codes, c_targets)[0]
            facts["condition"] = list(other)
        else:
            against = _condition_vector(condition, space.dim)
            facts["condition"] = "given vector"
        normal = normal - (normal @ against) * against
        if float(normal.norm()) < 1e-6:
            raise ValueError("condition: the boundary is parallel to the condition direction; nothing is left")
        normal = normal / normal.norm()
    vector = normal[None].float()
    scale = _spread(codes, vector)
    return vector, torch.tensor([accuracy]), scale, [name], facts


def _class_pair(name: str, labels: Any) -> tuple[int, int]:
    if (not isinstance(labels, (tuple, list)) or len(labels) != 2
            or not all(isinstance(v, (int, np.integer)) and not isinstance(v, bool) for v in labels)
            or labels[0] == labels[1]):
        raise ValueError(f"{name}: expected two different class ids (source, target) such as (1, 3), got {labels!r}")
    return int(labels[0]), int(labels[1])


def _class_codes(space: EditSpace, images: Tensor, labels: Tensor, pair: tuple[int, int], n: int,
                 seed: int) -> tuple[Tensor, Tensor]:
    """Codes of up to ``n`` seeded images of each class, and 0/1 targets (1 = the second class)."""
    codes, targets = [], []
    generator = torch.Generator().manual_seed(seed)
    for target, label in enumerate(pair):
        members = torch.nonzero(labels == label).flatten()
        if len(members) < 2:
            found = sorted(set(labels.tolist()))[:20]
            raise ValueError(f"labels: class {label} has {len(members)} images in the data; classes present: {found}")
        chosen = members[torch.randperm(len(members), generator=generator)[:n]]
        codes.append(space.encode_codes(images[chosen]))
        targets.append(torch.full((len(chosen),), float(target)))
    return torch.cat(codes), torch.cat(targets)


def fit_boundary(codes: Tensor, targets: Tensor, l2: float = BOUNDARY_L2, steps: int = 200) -> tuple[Tensor, float]:
    """Unit normal ``(D,)`` (float64, pointing to targets = 1) of a logistic boundary, and its training accuracy.

    Fitted on standardised codes (well conditioned whatever the code scale) and mapped back: a weight ``v``
    on ``(x − μ)/σ`` is the weight ``v/σ`` on ``x``.
    """
    x = codes.double()
    mean, std = x.mean(0), x.std(0).clamp_min(1e-8)
    z = (x - mean) / std
    y = targets.double()
    weight = torch.zeros(z.shape[1], dtype=torch.float64, requires_grad=True)
    bias = torch.zeros((), dtype=torch.float64, requires_grad=True)
    optimizer = torch.optim.LBFGS([weight, bias], max_iter=steps, line_search_fn="strong_wolfe")

    def closure() -> Tensor:
        optimizer.zero_grad()
        loss = torch.nn.functional.binary_cross_entropy_with_logits(z @ weight + bias, y)
        loss = loss + l2 * weight.square().sum()
        loss.backward()
        return loss

    with torch.enable_grad():
        optimizer.step(closure)
    weight = weight.detach()
    accuracy = float(((z @ weight + bias.detach() > 0).double() == y).double().mean())
    normal = weight / std
    return normal / normal.norm(), accuracy


def _condition_vector(condition: Any, dim: int) -> Tensor:
    if isinstance(condition, Directions):
        if len(condition) != 1:
            raise ValueError(f"condition: expected one direction, got {len(condition)}; pass d[i]")
        condition = condition[0]
    vector = condition.vector if isinstance(condition, Direction) else condition
    if not isinstance(vector, Tensor) or vector.shape != (dim,) or not float(vector.norm()) > 0:
        raise ValueError(f"condition: expected a Direction, a non-zero ({dim},) tensor or a class pair, "
                         f"got {type(condition).__name__}")
    vector = vector.detach().double().cpu()
    return vector / vector.norm()


# -- data ---------------------------------------------------------------------------------------------------
def _load_data(space: EditSpace, data: DataSpec, seed: int) -> tuple[Any, Tensor, str, dict[int, str]]:
    """Images (indexable by a tensor of positions) and labels of the training split (or of given tensors) at
    the model's shape, a description, and class names by id where the data has them."""
    from genae.data import fit_images, open_dataset

    model = space.model
    if isinstance(data, tuple):
        if len(data) != 2 or not all(isinstance(t, Tensor) for t in data) or len(data[0]) != len(data[1]):
            raise ValueError("data: expected a name, a folder or (images, labels) tensors of equal length")
        images, labels = data
        images = fit_images(images, channels=model.channels, resolution=model.resolution)[0]
        return images.to(model.dtype), torch.as_tensor(labels).long().cpu(), f"{len(images)} given images", {}
    if not isinstance(data, (str, Path)):
        raise ValueError(f"data: expected a dataset name, a folder or (images, labels), got {type(data).__name__}")
    dataset = open_dataset(data, split="train", resolution=model.resolution, channels=model.channels, seed=seed)
    classes = {index: name.lower().replace(" ", "-").replace("/", "-") for index, name in enumerate(dataset.classes)}
    return _LazyImages(dataset, model.dtype), torch.as_tensor(dataset.labels).long(), dataset.description, classes


class _LazyImages:
    """A dataset's images indexed by a tensor of positions, decoded only when chosen (60,000 are not needed)."""

    def __init__(self, dataset: Any, dtype: torch.dtype) -> None:
        self.dataset, self.dtype = dataset, dtype

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, index: Tensor) -> Tensor:
        return torch.stack([self.dataset[int(i)][0] for i in index]).to(self.dtype)


def _provenance(model: Any, settings: dict[str, Any]) -> dict[str, Any]:
    from genae._version import __version__

    return {"model": model.card.get("name") or model.card.get("load_name") or model.architecture,
            "architecture": model.architecture, "latent_dim": model.latent_dim, "genae_version": __version__,
            "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "settings": settings}
