"""Unsupervised clustering error and semi-supervised classification error of a model's codes.

* **cluster error** (Makhzani et al.'s protocol): each cluster is assigned the majority label of its members
  and the error is the fraction of images whose cluster's label is not theirs. A categorical code
  (a model with ``num_categories``) clusters by its argmax; a continuous code is clustered by k-means
  with ``K`` stated in the result. More clusters lower this error, so results must be compared at equal K.
* **semi-supervised error**: a model trained with labels (a categorical code and a ``labelled_subset``
  entry on its card) is scored by its own class prediction; any other model by a multinomial
  logistic-regression probe on its codes, fitted on the same seeded, class-balanced labelled subset
  (:func:`balanced_subset`) of the training split.

k-means and the probe are implemented here in torch (float64, seeded), so scikit-learn is not needed.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np
import torch
from torch import Tensor

DEFAULT_LABELS = 100
KMEANS_RESTARTS = 4
KMEANS_ITERATIONS = 100
PROBE_L2 = 1e-2  # on standardised codes; keeps the 100-example probe from fitting noise


def _labels_array(labels: Any, name: str = "labels") -> np.ndarray:
    array = labels.cpu().numpy() if isinstance(labels, Tensor) else np.asarray(labels)
    if array.ndim != 1 or not np.issubdtype(array.dtype, np.integer):
        raise ValueError(f"{name}: expected a 1-D integer array, got {array.dtype} {array.shape}")
    return array.astype(np.int64)


def balanced_subset(labels: Any, count: int, seed: int) -> np.ndarray:
    """Sorted indices of ``count`` labelled items, ``count / C`` of each of the ``C`` classes, chosen by ``seed``.

    Items labelled ``-1`` (no label) are never chosen. The same (labels, count, seed) always give the same
    subset, so a semi-supervised model and a probe on another model can share one.
    """
    array = _labels_array(labels)
    if isinstance(count, bool) or not isinstance(count, int) or count < 1:
        raise ValueError(f"count: expected a positive int, got {count!r}")
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise ValueError(f"seed: expected a non-negative int, got {seed!r}")
    classes = np.unique(array[array >= 0])
    if len(classes) < 2 or count % len(classes):
        raise ValueError(f"count: {count} labels cannot be split evenly over {len(classes)} classes")
    per_class = count // len(classes)
    rng = np.random.default_rng(seed)
    chosen = []
    for value in classes:
        members = np.flatnonzero(array == value)
        if len(members) < per_class:
            raise ValueError(f"count: class {value} has only {len(members)} items, {per_class} needed")
        chosen.append(rng.choice(members, per_class, replace=False))
    return np.sort(np.concatenate(chosen))


def majority_label_error(assignments: Any, labels: Any) -> tuple[float, dict[int, int]]:
    """Error when each cluster predicts its most frequent label; also returns the cluster → label map."""
    clusters, truth = _labels_array(assignments, "assignments"), _labels_array(labels)
    if len(clusters) != len(truth) or not len(truth):
        raise ValueError(f"assignments and labels: expected equal non-zero lengths, got {len(clusters)} and {len(truth)}")
    mapping = {int(c): int(np.bincount(truth[clusters == c]).argmax()) for c in np.unique(clusters)}
    predicted = np.array([mapping[int(c)] for c in clusters])
    return float((predicted != truth).mean()), mapping


def kmeans(points: Tensor, k: int, seed: int, restarts: int = KMEANS_RESTARTS,
           iterations: int = KMEANS_ITERATIONS) -> tuple[Tensor, Tensor]:
    """Lloyd's k-means with k-means++ seeding; the best of ``restarts`` runs by inertia.

    Returns ``(assignments (N,), centres (k, D))``. Runs in float64 on the points' device.
    """
    if not isinstance(points, Tensor) or points.dim() != 2:
        raise ValueError(f"points: expected a (N, D) tensor, got {getattr(points, 'shape', type(points).__name__)}")
    if isinstance(k, bool) or not isinstance(k, int) or not 1 <= k <= len(points):
        raise ValueError(f"k: expected an int in [1, {len(points)}], got {k!r}")
    x = points.double()
    generator = torch.Generator().manual_seed(seed)
    best: tuple[float, Tensor, Tensor] | None = None
    for _ in range(restarts):
        centres = _kmeans_plus_plus(x, k, generator)
        for _ in range(iterations):
            assignments = torch.cdist(x, centres).argmin(dim=1)
            updated = torch.zeros_like(centres).index_add_(0, assignments, x)
            counts = torch.bincount(assignments, minlength=k).to(x)[:, None]
            updated = torch.where(counts > 0, updated / counts.clamp_min(1), centres)  # empty cluster: keep
            if torch.allclose(updated, centres):
                break
            centres = updated
        assignments = torch.cdist(x, centres).argmin(dim=1)
        inertia = float((x - centres[assignments]).pow(2).sum())
        if best is None or inertia < best[0]:
            best = (inertia, assignments, centres)
    assert best is not None
    return best[1], best[2].to(points.dtype)


def _kmeans_plus_plus(x: Tensor, k: int, generator: torch.Generator) -> Tensor:
    first = int(torch.randint(len(x), (1,), generator=generator))
    centres = [x[first]]
    distances = (x - x[first]).pow(2).sum(1)
    for _ in range(1, k):
        weights = distances / distances.sum() if float(distances.sum()) > 0 else torch.ones_like(distances)
        index = int(torch.multinomial(weights.cpu(), 1, generator=generator))
        centres.append(x[index])
        distances = torch.minimum(distances, (x - x[index]).pow(2).sum(1))
    return torch.stack(centres)


def logistic_probe(features: Tensor, labels: Any, l2: float = PROBE_L2, steps: int = 200) -> Any:
    """Fit a multinomial logistic regression (L-BFGS, float64, standardised inputs); returns a predictor."""
    if not isinstance(features, Tensor) or features.dim() != 2:
        raise ValueError("features: expected a (N, D) tensor")
    y = torch.as_tensor(_labels_array(labels), device=features.device)
    if len(y) != len(features):
        raise ValueError(f"features and labels: {len(features)} rows and {len(y)} labels")
    x = features.double()
    mean, std = x.mean(0), x.std(0).clamp_min(1e-6)
    z = (x - mean) / std
    classes = int(y.max()) + 1
    weight = torch.zeros(z.shape[1], classes, dtype=torch.float64, device=z.device, requires_grad=True)
    bias = torch.zeros(classes, dtype=torch.float64, device=z.device, requires_grad=True)
    optimizer = torch.optim.LBFGS([weight, bias], max_iter=steps, line_search_fn="strong_wolfe")

    def closure() -> Tensor:
        optimizer.zero_grad()
        loss = torch.nn.functional.cross_entropy(z @ weight + bias, y) + l2 * weight.pow(2).sum()
        loss.backward()
        return loss

    optimizer.step(closure)
    weight, bias = weight.detach(), bias.detach()
    return lambda f: (((f.double() - mean) / std) @ weight + bias).argmax(dim=1)


def _batches(images: Tensor, batch_size: int) -> Iterator[Tensor]:
    yield from images.split(batch_size)


@torch.no_grad()
def model_codes(model: Any, images: Tensor, batch_size: int = 256) -> Tensor:
    """``model.encode`` of ``images`` in batches, on the model's device, returned on the CPU."""
    return torch.cat([model.encode(b.to(model.device)).float().cpu() for b in _batches(images, batch_size)])


def cluster_error(model: Any, images: Tensor, labels: Any, k: int | None = None, seed: int = 0) -> dict[str, Any]:
    """Cluster error of ``model``'s codes on ``images``; ``k`` is used for continuous codes (default: #classes).

    A model with a categorical code (``num_categories``) clusters by its argmax and ignores ``k``.
    """
    truth = _labels_array(labels)
    codes = model_codes(model, images)
    categories = getattr(model, "num_categories", None)
    if categories:
        assignments, method, k = codes.argmax(dim=1), "argmax of the categorical code", categories
    else:
        k = k or len(np.unique(truth))
        assignments, _ = kmeans(codes, k, seed)
        method = f"k-means on the codes (k-means++, {KMEANS_RESTARTS} restarts, seed {seed})"
    error, mapping = majority_label_error(assignments, truth)
    used = len(set(mapping))
    return {"value": error, "K": k, "clusters_used": used, "method": method, "assignment": "majority label",
            "n": len(truth)}


def pixel_cluster_error(images: Tensor, labels: Any, k: int, seed: int = 0) -> dict[str, Any]:
    """The reference row: k-means on raw pixels (flattened images), majority-label assignment."""
    assignments, _ = kmeans(images.flatten(1).float(), k, seed)
    error, mapping = majority_label_error(assignments, labels)
    return {"value": error, "K": k, "clusters_used": len(mapping), "n": len(images),
            "method": f"k-means on raw pixels (k-means++, {KMEANS_RESTARTS} restarts, seed {seed})",
            "assignment": "majority label"}


def labelled_subset(data: str, count: int, seed: int, resolution: int, channels: int) -> dict[str, Any]:
    """``count`` class-balanced labelled images of ``data``'s training split (seeded), with a record of them.

    The one source of the labelled subset: semi-supervised recipes train on it and probes are fitted on it.
    """
    from genae.data import open_dataset

    dataset = open_dataset(data, split="train", resolution=resolution, channels=channels)
    indices = balanced_subset(dataset.labels, count, seed)
    items = [dataset[int(i)] for i in indices]
    return {
        "images": torch.stack([image for image, _ in items]),
        "labels": torch.tensor([label for _, label in items], dtype=torch.long),
        "record": {"data": data, "split": "train", "count": count, "seed": seed, "indices": indices.tolist(),
                   "rule": "count / classes per class, numpy default_rng(seed).choice per class"},
    }


def labelled_subset_of(model: Any, default_count: int = DEFAULT_LABELS, default_seed: int = 0) -> dict[str, Any]:
    """The labelled subset a model was trained with (from its card), or the default one to probe with."""
    recorded = getattr(model, "card", {}).get("labelled_subset")
    if recorded:
        return {"count": int(recorded["count"]), "seed": int(recorded["seed"]), "trained_with_labels": True}
    return {"count": default_count, "seed": default_seed, "trained_with_labels": False}


def semisupervised_error(model: Any, images: Tensor, labels: Any, data: str, seed: int = 0,
                         count: int = DEFAULT_LABELS) -> dict[str, Any]:
    """Test error of the model's own class prediction (trained with labels) or of a probe on its codes.

    The probe is fitted on the labelled subset the model was trained with if its card records one, else on
    ``count`` labels of ``data``'s training split chosen with ``seed`` (:func:`labelled_subset`).
    """
    truth = torch.as_tensor(_labels_array(labels))
    subset = labelled_subset_of(model, count, seed)
    if subset["trained_with_labels"] and getattr(model, "num_categories", None):
        predicted = model_codes(model, images).argmax(dim=1)
        method = "the model's own class prediction (argmax of its categorical code)"
    else:
        labelled = labelled_subset(data, subset["count"], subset["seed"], model.resolution, model.channels)
        predict = logistic_probe(model_codes(model, labelled["images"]), labelled["labels"])
        predicted = predict(model_codes(model, images))
        method = f"logistic-regression probe on the codes (L-BFGS, L2 {PROBE_L2}, standardised codes)"
    error = float((predicted.cpu() != truth).double().mean())
    return {"value": error, "method": method, "labels": subset["count"], "label_seed": subset["seed"],
            "labelled_from": f"{data} train split, class-balanced", "n": len(truth)}


def pixel_probe_error(images: Tensor, labels: Any, labelled_images: Tensor, labelled_labels: Any) -> float:
    """The reference: the same logistic-regression probe on raw pixels."""
    predict = logistic_probe(labelled_images.flatten(1), labelled_labels)
    truth = torch.as_tensor(_labels_array(labels))
    return float((predict(images.flatten(1)).cpu() != truth).double().mean())
