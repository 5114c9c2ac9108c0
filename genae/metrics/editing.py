"""Does an edit do what it claims? Measured with the shipped Fashion-MNIST classifier.

- :func:`class_edit_rates`: for a direction from class *a* to class *b*, the fraction of edited images of *a*
  the classifier calls *b* at each strength, and how far the images moved from their unedited decoding
  (LPIPS where its backbone file exists, else distance in the shipped ``fashion-mnist-features`` space).
- :func:`classifier_change`: a label-free "meaningfulness" number for any direction (SeFa, GANSpace): the mean
  total-variation distance between the classifier's class probabilities before and after the edit
  (0: the classifier sees no change; 1: every image changed class with certainty).
- :func:`edit_benchmark`: both for one model on Fashion-MNIST; what ``genae bench --metrics edit`` reports.

The classifier is the network whose penultimate layer is the ``fashion-mnist-features`` extractor
(``genae/metrics/weights/fashion_mnist_features.md``): meaningful on Fashion-MNIST-like images only.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

#: Source → target classes of the default supervised edit: trouser (1) → dress (3).
DEFAULT_LABELS = (1, 3)
DEFAULT_STRENGTHS = (0.0, 1.0, 2.0, 3.0)
#: The strength whose rate is the headline figure.
HEADLINE_STRENGTH = 2.0
BATCH_SIZE = 128

Measure = Callable[[Tensor, Tensor], Tensor]


class FashionClassifier:
    """The shipped Fashion-MNIST classifier: images in ``[-1, 1]`` (any size, 1 or 3 channels) → probabilities."""

    def __init__(self, device: torch.device | str = "cpu") -> None:
        from genae.metrics.extractors import get_extractor

        self.extractor = get_extractor("fashion-mnist-features", device=device)
        self.device = torch.device(device)

    @torch.no_grad()
    def probabilities(self, images: Tensor) -> Tensor:
        from genae.metrics.fashion_cnn import to_network_input

        self.extractor.check_images(images)
        logits = self.extractor.network(to_network_input(images.to(self.device).float()))
        return logits.softmax(dim=1).cpu()

    def features(self, images: Tensor) -> Tensor:
        return self.extractor(images).cpu()


def movement_measure(device: torch.device | str = "cpu", weights_dir: str | Path | None = None,
                     classifier: FashionClassifier | None = None) -> tuple[str, Measure]:
    """``(label, per-image distance)``: LPIPS (AlexNet) where its file exists, else fashion-mnist-features L2."""
    from genae.metrics._files import MissingWeightsError
    from genae.metrics.perceptual import LPIPS

    try:
        lpips = LPIPS("alex", device, weights_dir)
    except MissingWeightsError:
        net = classifier or FashionClassifier(device)
        return "L2[fashion-mnist-features]", lambda a, b: (net.features(a) - net.features(b)).norm(dim=1)
    return f"LPIPS[{lpips.label}]", lambda a, b: lpips(a.to(lpips.device), b.to(lpips.device)).cpu()


def _edited(model: Any, images: Tensor, direction: Any, strengths: Sequence[float]) -> Tensor:
    from genae.editing import edit

    return torch.cat([edit(model, batch.to(model.device), direction, list(strengths)).cpu()
                      for batch in images.split(BATCH_SIZE)])


def class_edit_rates(model: Any, images: Tensor, direction: Any, target: int, strengths: Sequence[float],
                     classifier: FashionClassifier, measure: Measure) -> list[dict[str, float]]:
    """Per strength: the fraction of edited ``images`` classified ``target``, and the mean movement from the
    unedited (strength 0) decoding."""
    values = [float(s) for s in strengths]
    edited = _edited(model, images, direction, [0.0, *values])
    unedited = edited[:, 0]
    rows = []
    for index, value in enumerate(values, start=1):
        predicted = classifier.probabilities(edited[:, index]).argmax(dim=1)
        rows.append({"strength": value, "target_rate": float((predicted == target).double().mean()),
                     "movement": float(measure(edited[:, index], unedited).double().mean())})
    return rows


def classifier_change(model: Any, images: Tensor, direction: Any, strength: float,
                      classifier: FashionClassifier) -> float:
    """Mean total-variation distance between class probabilities at strength 0 and at ±``strength``."""
    edited = _edited(model, images, direction, [0.0, -strength, strength])
    before = classifier.probabilities(edited[:, 0])
    change = [0.5 * (classifier.probabilities(edited[:, i]) - before).abs().sum(dim=1) for i in (1, 2)]
    return float(torch.cat(change).double().mean())


def edit_benchmark(model: Any, images: Tensor, labels: Tensor, data: str, *, pair: tuple[int, int] = DEFAULT_LABELS,
                   strengths: Sequence[float] = DEFAULT_STRENGTHS, fit_per_class: int = 1000, k: int = 5,
                   change_strength: float = 3.0, change_images: int = 1000, seed: int = 0,
                   device: torch.device | str = "cpu",
                   weights_dir: str | Path | None = None) -> dict[str, Any]:
    """Supervised ``pair`` edit rates on the test ``images`` of ``pair[0]``, and the classifier change of the top
    ``k`` SeFa and GANSpace directions (scales from, and GANSpace fitted on, encoded ``data``) on the first
    ``change_images`` of ``images`` (``change[method]``: a list per direction, or why it could not be measured)."""
    from genae.editing import directions

    source = images[torch.as_tensor(labels) == pair[0]]
    if len(source) < 2:
        raise ValueError(f"images: only {len(source)} of class {pair[0]}; the edit rate needs more")
    classifier = FashionClassifier(device)
    measure_name, measure = movement_measure(device, weights_dir, classifier)
    supervised = directions(model, "supervised", data=data, labels=pair, n=fit_per_class, seed=seed)
    rows = class_edit_rates(model, source, supervised[0], pair[1], strengths, classifier, measure)
    result: dict[str, Any] = {"pair": list(pair), "direction": supervised.names[0], "source_images": len(source),
                              "fit": supervised.provenance["settings"], "movement_measure": measure_name,
                              "rates": rows, "change_strength": change_strength,
                              "change_images": min(change_images, len(images)), "change": {}}
    for method in ("sefa", "ganspace"):
        if method == "sefa" and not hasattr(model.decoder, "style_affine_weights"):
            result["change"][method] = f"{type(model.decoder).__name__} does not expose its style affine weights"
            continue
        found = directions(model, method, k=k, seed=seed, data=data)
        result["change"][method] = [classifier_change(model, images[:change_images], d, change_strength, classifier)
                                     for d in found]
    return result
