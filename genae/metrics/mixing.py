"""Style-mixing metrics: samples for "FID (mix)" and the scale-disentanglement score.

Both need a style-based decoder (``model.is_style_based``); callers report "n/a" for other models.

*FID (mix)*: each image mixes two prior samples at a crossover slot drawn uniformly from 1 .. S-1 (z1 drives
the slots before it, z2 the rest), the style-mixing regularisation of StyleGAN used as an evaluation.

*Scale disentanglement* (new; no published system reports it): on the synthetic scales dataset, whose
coarse factors (shape, position, size) and fine factors (colour, texture) are known, encode images A and
B, decode with A driving the coarse style slots and B the rest, and ask factor classifiers trained on the
dataset whether the output shows A's coarse factors and B's fine factors. The classifiers' accuracy on
real images is the ceiling of each per-factor figure.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn
from torch.nn import functional as F

from genae.interfaces import StyleRange
from genae.io import write_text_atomic

CLASSIFIER_VERSION = "factor-cnn-1"  # bump when the classifier or its training changes: it keys the cache
CLASSIFIER_STEPS = 600  # batches of 64 rendered images; the real-image accuracy (the ceiling) is reported


def require_style_based(model: Any) -> None:
    if not getattr(model, "is_style_based", False):
        raise TypeError(
            f"{getattr(model, 'architecture', '') or type(model).__name__} has no style-based decoder, "
            "so it cannot mix styles"
        )


@torch.no_grad()
def mixed_samples(model: Any, n: int, batch_size: int = 64, seed: int = 0) -> Iterator[Tensor]:
    """``n`` style-mixed prior samples in batches (crossover slot uniform in 1 .. S-1 per image)."""
    require_style_based(model)
    slots = model.decoder.num_styles
    if slots < 2:
        raise ValueError(f"style mixing needs at least 2 style slots; this decoder has {slots}")
    generator = torch.Generator().manual_seed(seed)
    done = 0
    while done < n:
        size = min(batch_size, n - done)
        z1 = model.prior.sample(size, generator=generator, device=model.device)
        z2 = model.prior.sample(size, generator=generator, device=model.device)
        crossover = torch.randint(1, slots, (size,), generator=generator).to(model.device)
        slot = torch.arange(slots, device=model.device)
        styles = [torch.where((slot[i] < crossover)[:, None], z1, z2) for i in range(slots)]
        yield model.decoder.forward_styles(styles).clamp(-1, 1)
        done += size


class FactorClassifier(nn.Module):
    """A small CNN with one softmax head per factor of the scales dataset."""

    def __init__(self, channels: int, factor_sizes: dict[str, int]) -> None:
        super().__init__()
        self.factor_names = list(factor_sizes)
        self.body = nn.Sequential(
            nn.Conv2d(channels, 32, 3, padding=1), nn.BatchNorm2d(32), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(32, 64, 3, padding=1), nn.BatchNorm2d(64), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(64, 64, 3, padding=1), nn.BatchNorm2d(64), nn.ReLU(), nn.AdaptiveAvgPool2d(4),
            nn.Flatten(), nn.Linear(64 * 16, 128), nn.ReLU(),
        )
        self.heads = nn.ModuleDict({name: nn.Linear(128, size) for name, size in factor_sizes.items()})

    def forward(self, x: Tensor) -> dict[str, Tensor]:
        h = self.body(x)
        return {name: head(h) for name, head in self.heads.items()}


@torch.no_grad()
def factor_accuracy(classifier: FactorClassifier, images: Tensor, targets: dict[str, Tensor]) -> dict[str, Tensor]:
    """Per-factor boolean correctness ``(B,)`` of the classifier on ``images``."""
    classifier.eval()
    logits = classifier(images.to(next(classifier.parameters()).device))
    return {name: (logits[name].argmax(1).cpu() == targets[name].cpu()) for name in classifier.factor_names}


def train_factor_classifier(
    train_set: Any, steps: int = CLASSIFIER_STEPS, batch_size: int = 64, seed: int = 0, device: torch.device | str = "cpu",
    progress: Callable[[int], None] | None = None,
) -> FactorClassifier:
    """Fit the classifier on a scales training split (rendered batch by batch, seeded)."""
    with torch.enable_grad():  # callers may evaluate under no_grad; training needs gradients regardless
        return _train(train_set, steps, batch_size, seed, device, progress)


def _train(
    train_set: Any, steps: int, batch_size: int, seed: int, device: torch.device | str,
    progress: Callable[[int], None] | None,
) -> FactorClassifier:
    torch.manual_seed(seed)
    generator = torch.Generator().manual_seed(seed)
    classifier = FactorClassifier(train_set.channels, dict(train_set.factor_sizes)).to(device)
    optimiser = torch.optim.AdamW(classifier.parameters(), lr=2e-3, weight_decay=1e-4)
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimiser, 2e-3, total_steps=steps)
    factors = train_set.all_factors()
    classifier.train()
    for _ in range(steps):
        index = torch.randint(len(train_set), (batch_size,), generator=generator)
        images = train_set.render(index).to(device)
        logits = classifier(images)
        loss = sum(F.cross_entropy(logits[name], factors[name][index].to(device)) for name in logits)
        optimiser.zero_grad(set_to_none=True)
        loss.backward()
        optimiser.step()
        schedule.step()
        if progress is not None:
            progress(1)
    return classifier.eval()


def load_or_train_classifier(
    open_scales: Callable[[str], Any], cache_dir: Path | None, seed: int = 0, device: torch.device | str = "cpu",
    progress: Callable[[int], None] | None = None,
) -> tuple[FactorClassifier, dict[str, Any]]:
    """The factor classifier for one (resolution, channels) of the scales data, cached by content hash.

    Returns it with its card: per-factor accuracy on the real test split (the ceiling of the score).
    ``progress`` is called once per training step (``CLASSIFIER_STEPS`` in all) when it has to be trained.
    """
    from safetensors.torch import load_file, save_file

    from genae.io import atomic_path

    train_set, test_set = open_scales("train"), open_scales("test")
    key = f"{CLASSIFIER_VERSION}-{train_set.content_hash()}-{test_set.content_hash()}-seed{seed}-{CLASSIFIER_STEPS}"
    weights = cache_dir / f"{key}.safetensors" if cache_dir else None
    card_path = cache_dir / f"{key}.json" if cache_dir else None
    if weights is not None and weights.is_file() and card_path is not None and card_path.is_file():
        classifier = FactorClassifier(train_set.channels, dict(train_set.factor_sizes)).to(device)
        classifier.load_state_dict(load_file(str(weights), device=str(device)))
        return classifier.eval(), json.loads(card_path.read_text())
    classifier = train_factor_classifier(train_set, steps=CLASSIFIER_STEPS, seed=seed, device=device,
                                         progress=progress)
    index = torch.arange(len(test_set))
    correct = factor_accuracy(classifier, test_set.render(index), test_set.all_factors())
    card = {
        "classifier": CLASSIFIER_VERSION,
        "seed": seed,
        "steps": CLASSIFIER_STEPS,
        "train_set": train_set.description,
        "test_accuracy": {name: float(hits.float().mean()) for name, hits in correct.items()},
        "test_n": len(test_set),
    }
    if weights is not None and card_path is not None:
        with atomic_path(weights) as tmp:
            save_file({k: v.contiguous().cpu() for k, v in classifier.state_dict().items()}, str(tmp))
        write_text_atomic(card_path, json.dumps(card, indent=2) + "\n")
    return classifier, card


@torch.no_grad()
def scale_disentanglement(
    model: Any,
    test_set: Any,
    classifier: FactorClassifier,
    n: int,
    coarse_range: StyleRange = "coarse",
    batch_size: int = 64,
    seed: int = 0,
    progress: Callable[[int], None] | None = None,
) -> dict[str, Any]:
    """How often a coarse(A) x fine(B) mix keeps A's coarse and B's fine factors, per factor and overall.

    ``progress`` (if given) is called with the number of pairs done after every batch.

    ``score`` is the mean of the per-factor accuracies; ``all_factors`` the fraction of mixes where every
    factor is right. ``reconstruction`` gives the same per-factor figures for plain reconstructions of A,
    separating "the mix broke it" from "the model cannot reproduce it at all".
    """
    require_style_based(model)
    if not isinstance(n, int) or n < 1:
        raise ValueError(f"n: expected a positive int, got {n!r}")
    if n > len(test_set):
        raise ValueError(f"n={n} pairs requested but the scales test split has only {len(test_set)} images")
    start, stop = model.resolve_style_range(coarse_range)
    generator = torch.Generator().manual_seed(seed)
    index_a = torch.randperm(len(test_set), generator=generator)[:n]
    index_b = torch.randperm(len(test_set), generator=generator)[:n]
    factors = test_set.all_factors()
    coarse, fine = set(test_set.coarse_factors), set(test_set.fine_factors)
    hits: dict[str, list[Tensor]] = {name: [] for name in classifier.factor_names}
    recon_hits: dict[str, list[Tensor]] = {name: [] for name in classifier.factor_names}
    for begin in range(0, n, batch_size):
        a, b = index_a[begin : begin + batch_size], index_b[begin : begin + batch_size]
        z_a = model.encode(test_set.render(a).to(model.device))
        z_b = model.encode(test_set.render(b).to(model.device))
        mixed = model.mix([z_a, z_b], [(start, stop), None])
        wanted = {name: factors[name][a] if name in coarse else factors[name][b] for name in factors}
        for name, correct in factor_accuracy(classifier, mixed, wanted).items():
            hits[name].append(correct)
        own = {name: factors[name][a] for name in factors}
        for name, correct in factor_accuracy(classifier, model.decode(z_a), own).items():
            recon_hits[name].append(correct)
        if progress is not None:
            progress(len(a))
    per_factor = {name: torch.cat(v) for name, v in hits.items()}
    accuracy = {name: float(v.float().mean()) for name, v in per_factor.items()}
    every = torch.stack(list(per_factor.values())).all(0)
    return {
        "score": sum(accuracy.values()) / len(accuracy),
        "all_factors": float(every.float().mean()),
        "per_factor": accuracy,
        "reconstruction": {name: float(torch.cat(v).float().mean()) for name, v in recon_hits.items()},
        "coarse_slots": [start, stop],
        "coarse_factors": sorted(coarse),
        "fine_factors": sorted(fine),
        "n": n,
    }
