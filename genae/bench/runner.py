"""``run_bench``: every requested metric for every model on one dataset split, with full provenance.

Per model, images are generated once (prior samples, reconstructions of the held-out split) and shared
by the metrics that need them. Real-data features are cached on disk, one file per dataset content hash,
split and extractor weights holding every image extracted so far (a stored reference, see
``genae.metrics.reference``), or taken from a ``reference`` file. A model that fails is recorded as failed
and the run goes on; results are written after every model, so an interrupted run keeps what it finished.
"""

from __future__ import annotations

import hashlib
import json
import re
import time
import traceback
from collections.abc import Callable, Iterable, Sequence
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor

from genae.bench.figures import FAILED, NOT_APPLICABLE, NotApplicable, figure, unavailable
from genae.bench.provenance import cache_root, environment
from genae.metrics.frechet import FID_RECOMMENDED_MIN
from genae.metrics.perceptual import Crop
from genae.progress import progress_bar, progress_iter

#: Every metric the runner knows, in the order it computes and prints them.
METRICS: dict[str, str] = {
    "fid": "Frechet distance between features of prior samples and of the real split",
    "kid": "kernel (polynomial, degree 3) distance, same sets as fid",
    "rfid": "Frechet distance between features of the real split's reconstructions and of the real split",
    "precision": "improved precision, k=3 (Kynkaanniemi et al. 2019): share of samples on the real manifold",
    "recall": "improved recall, k=3 (Kynkaanniemi et al. 2019): share of real images on the samples' manifold",
    "density": "density, k=5 (Naeem et al. 2020): mean real k-NN balls holding a sample, / k",
    "coverage": "coverage, k=5 (Naeem et al. 2020): share of real k-NN balls holding a sample",
    "is": "Inception Score of prior samples (the extractor's classifier head, 10 splits)",
    "fid-inf": "FID extrapolated to infinitely many samples (Chong & Forsyth 2020, 15 points)",
    "lpips": "LPIPS (AlexNet v0.1) between real images and their reconstructions",
    "ppl": "perceptual path length (LPIPS VGG, eps 1e-4, trimmed 1-99 percentiles)",
    "swd": "sliced Wasserstein distance x1e3 (Progressive GAN), samples vs real, per level and mean",
    "mse": "mean squared error of reconstructions ([-1, 1] range)",
    "psnr": "PSNR of reconstructions in dB (data range 2), mean of per-image values",
    "ssim": "SSIM of reconstructions (11x11 Gaussian window, sigma 1.5, data range 2)",
    "mix-fid": "FID of style-mixed prior samples (style-based models)",
    "disentanglement": "scale-disentanglement score on the synthetic scales dataset (style-based models)",
    "cluster-error": "majority-label error of the code's clusters (categorical argmax, else k-means with K stated)",
    "semisup-error": "class error from 100 seeded balanced labels: the model's own prediction or a probe on codes",
    "speed": "encode and decode images/s and peak memory on the chosen device",
    "edit": "Fashion-MNIST: trouser->dress edit rate by the shipped classifier; classifier change of SeFa/GANSpace",
}
#: What a plain ``genae bench`` computes: a useful table in minutes on a CPU; the rest by name or ``all``.
QUICK_METRICS = ("fid", "kid", "precision", "recall", "mse", "psnr", "ssim")
#: Default N per device type. On a CPU: the smallest N at which FID does not warn of its small-sample bias
#: (``FID_RECOMMENDED_MIN``), so two models finish in minutes on 2 shared cores; elsewhere the field's 10,000.
DEFAULT_N = {"cpu": FID_RECOMMENDED_MIN}
DEFAULT_N_ACCELERATOR = 10000
#: Metrics whose Python method name differs from the metric's name.
_METHODS = {"is": "inception_score"}


def default_n(device: str | torch.device) -> int:
    """The sample size a bench uses when none is given: smaller on CPUs, the field's 10,000 elsewhere."""
    return DEFAULT_N.get(torch.device(device).type, DEFAULT_N_ACCELERATOR)


def parse_metrics(metrics: str | Sequence[str] | None) -> list[str]:
    """Validate metric names (comma-separated or a list); ``"all"`` means every metric, ``None`` or ``"quick"``
    the quick default set (:data:`QUICK_METRICS`)."""
    if metrics is None or metrics == "quick":
        return list(QUICK_METRICS)
    if metrics == "all":
        return list(METRICS)
    names = [m.strip() for m in metrics.split(",")] if isinstance(metrics, str) else list(metrics)
    names = [m for m in names if m]
    unknown = [m for m in names if m not in METRICS]
    if unknown or not names:
        raise ValueError(f"unknown metric(s) {', '.join(map(repr, unknown)) or '(none given)'}; "
                         f"valid: {', '.join(METRICS)}")
    return list(dict.fromkeys(names))


def resolve_model_name(name: str, data: str) -> str:
    """Map an architecture name (or alias) to its pretrained weights for ``data``; other names pass through.

    Local folders and ``hf-hub:`` names are returned unchanged. An architecture without weights for the
    dataset is an error listing the weights that do exist.
    """
    from genae.registry import REGISTRY, RegistryError

    if name.startswith("hf-hub:") or Path(name).exists() or "/" in name:
        return name
    if REGISTRY.find_model(name) is None:
        return name
    try:
        return REGISTRY.pretrained_for(name, data).name
    except RegistryError as error:
        raise ValueError(str(error)) from None


class _Settings:
    def __init__(self, **values: Any) -> None:
        self.__dict__.update(values)


def _batches(images: Tensor, batch_size: int) -> tuple[Tensor, ...]:
    """Consecutive batches, as a sized tuple so progress bars know their total."""
    return images.split(batch_size)


class _RunContext:
    """What all models of one run share: data per (resolution, channels), extractor, LPIPS nets, caches."""

    def __init__(self, s: _Settings) -> None:
        self.s = s
        self._real: dict[tuple[int, int], tuple[Any, Tensor, np.ndarray]] = {}
        self._labels: dict[tuple[int, int], Tensor] = {}
        self._features: dict[tuple[int, int], Tensor] = {}
        self._stats: dict[tuple[int, int], Any] = {}
        #: The cached real-feature file per (resolution, channels), reported with every figure that used it.
        self.cache_files: dict[tuple[int, int], Path] = {}
        self._classifiers: dict[tuple[int, int], tuple[Any, dict[str, Any]]] = {}
        self._lpips: dict[str, Any] = {}

    def bar(self, iterable: Iterable[Any], desc: str, total: int | None = None) -> Iterable[Any]:
        return progress_iter(iterable, desc=desc, total=total, leave=False, enabled=self.s.progress, unit="batch")

    def counter(self, desc: str, total: int, unit: str = "item") -> Any:
        """A progress bar for code that reports counts through a ``progress(k)`` callback (``bar.update``)."""
        return progress_bar(total, desc=desc, leave=False, enabled=self.s.progress, unit=unit)

    def real(self, resolution: int, channels: int) -> tuple[Any, Tensor, np.ndarray]:
        """The dataset at this shape, the ``n`` evaluation images drawn from it (seeded) and their indices."""
        key = (resolution, channels)
        if key not in self._real:
            from genae.data import open_dataset

            dataset = open_dataset(self.s.data, split=self.s.split, resolution=resolution, channels=channels,
                                   seed=self.s.seed)
            check_sample_size(self.s.n, len(dataset), f"{self.s.data} {self.s.split} split")
            generator = torch.Generator().manual_seed(self.s.seed)
            indices = torch.randperm(len(dataset), generator=generator)[: self.s.n].sort().values
            images = torch.stack([dataset[int(i)][0] for i in indices])
            self._real[key] = (dataset, images, indices.numpy())
            self._labels[key] = torch.as_tensor(dataset.labels[indices.numpy()])
        return self._real[key]

    def labels(self, resolution: int, channels: int) -> Tensor:
        """Class labels of the evaluation images (``-1`` where the data has none)."""
        self.real(resolution, channels)
        return self._labels[(resolution, channels)]

    @cached_property
    def extractor(self) -> Any:
        from genae.metrics.extractors import EXTRACTORS, get_extractor

        # Shipped weights are always present, so "random weights" (for absent pretrained files) skips them.
        shipped = self.s.extractor in EXTRACTORS and EXTRACTORS[self.s.extractor].shipped_weights
        random_init = self.s.random_weights and not shipped
        return get_extractor(self.s.extractor, self.s.device, self.s.weights_dir, random_init=random_init)

    def lpips(self, net: str) -> Any:
        from genae.metrics.perceptual import LPIPS

        if net not in self._lpips:
            self._lpips[net] = LPIPS(net, self.s.device, self.s.weights_dir, random_backbone=self.s.random_weights)
        return self._lpips[net]

    def real_features(self, resolution: int, channels: int) -> Tensor:
        """Extractor features of the real images: the ``--reference`` file's, else this split's (disk-cached)."""
        key = (resolution, channels)
        if key not in self._features:
            reference = self.s.reference
            if reference is not None and reference.features is None:
                raise NotApplicable(f"the reference {self.s.reference_path} holds only mu/sigma; this metric "
                                    "needs the features themselves")
            self._features[key] = reference.features if reference is not None else self._split_features(*key)
        return self._features[key]

    def real_stats(self, resolution: int, channels: int) -> Any:
        """Mean, covariance and QR factor of the real features (the reference file's when one is given)."""
        from genae.metrics.frechet import FeatureStats

        key = (resolution, channels)
        if key not in self._stats:
            reference = self.s.reference
            self._stats[key] = reference.stats if reference is not None else FeatureStats.from_features(
                self.real_features(*key), "real features")
        return self._stats[key]

    def _split_features(self, resolution: int, channels: int) -> Tensor:
        """Features of the chosen real images; every image's features are cached on disk per (dataset, split,
        resolution, channels, extractor weights) in the ``--reference`` format, so later runs, at any N or
        seed, extract only images not seen before."""
        from genae.metrics.reference import load_reference, save_reference

        dataset, images, indices = self.real(resolution, channels)
        info = self.extractor.info()
        path = None
        known: dict[int, Tensor] = {}
        if self.s.cache_dir is not None:
            key = hashlib.sha256(json.dumps({
                "dataset": dataset.content_hash(), "split": self.s.split, "extractor": info["extractor"],
                "weights": info["weights_sha256"], "random": info["random_init"],
            }, sort_keys=True).encode()).hexdigest()[:16]
            name = f"real-{_slug(str(self.s.data))}-{_slug(self.s.split)}-{resolution}px-{channels}ch-{info['extractor']}"
            path = self.s.cache_dir / "bench" / f"{name}-{key}.npz"
            if path.is_file():
                try:
                    stored = load_reference(path)
                    if stored.features is not None and stored.indices is not None:
                        known = dict(zip(stored.indices.tolist(), stored.features))
                except ValueError:  # a damaged cache file is recomputed and replaced
                    known = {}
        missing = [pos for pos, index in enumerate(indices.tolist()) if index not in known]
        if missing:
            fresh = self.extractor.extract(self.bar(_batches(images[missing], self.s.batch_size), "real features"))
            known.update(zip(indices[missing].tolist(), fresh))
            if path is not None:
                order = sorted(known)
                save_reference(path, torch.stack([known[i] for i in order]), {
                    "dataset": str(self.s.data), "split": self.s.split, "resolution": resolution,
                    "channels": channels, "description": dataset.description,
                    "content_hash": dataset.content_hash(), "extractor": info, "preprocessing": info["input_rule"],
                }, indices=np.array(order))
        if path is not None:
            self.cache_files[(resolution, channels)] = path
        return torch.stack([known[index] for index in indices.tolist()])

    def factor_classifier(self, resolution: int, channels: int, progress: Any = None) -> tuple[Any, dict[str, Any], Any]:
        from genae.data import open_dataset
        from genae.metrics.mixing import load_or_train_classifier

        def open_scales(split: str) -> Any:
            return open_dataset("scales", split=split, resolution=resolution, channels=channels)

        key = (resolution, channels)
        if key not in self._classifiers:
            cache = self.s.cache_dir / "bench" / "scale-classifiers" if self.s.cache_dir else None
            self._classifiers[key] = load_or_train_classifier(open_scales, cache, seed=self.s.seed,
                                                              device=self.s.device, progress=progress)
        classifier, card = self._classifiers[key]
        return classifier, card, open_scales("test")


def check_sample_size(n: int, available: int, what: str) -> None:
    if n > available:
        raise ValueError(f"too few samples: n={n} requested but the {what} has only {available} images; "
                         f"use -n {available} or less")


class _ModelRun:
    """One model's evaluation: shared generated images, then one method per metric."""

    def __init__(self, ctx: _RunContext, model: Any) -> None:
        self.ctx, self.s, self.model = ctx, ctx.s, model
        self.dataset, self.real, _ = ctx.real(model.resolution, model.channels)
        self.n = len(self.real)

    @property
    def generated(self) -> str:
        """What the sample figures measure: draws of the architecture's prior or of a fitted one."""
        components = getattr(self.model.prior, "components", None)
        return "prior samples" if components is None else f"samples of a fitted {components}-component mixture prior"

    @cached_property
    def samples(self) -> Tensor:
        generator = torch.Generator().manual_seed(self.s.seed)
        out = []
        for start in self.ctx.bar(range(0, self.n, self.s.batch_size), "sampling"):
            size = min(self.s.batch_size, self.n - start)
            out.append(self.model.sample(size, generator=generator).cpu())
        return torch.cat(out)

    @cached_property
    def reconstructions(self) -> Tensor:
        batches = self.ctx.bar(_batches(self.real, self.s.batch_size), "reconstructing")
        return torch.cat([self.model.reconstruct(b.to(self.model.device)).cpu() for b in batches])

    @cached_property
    def sample_features(self) -> Tensor:
        return self.ctx.extractor.extract(self.ctx.bar(_batches(self.samples, self.s.batch_size), "features"))

    @cached_property
    def sample_stats(self) -> Any:
        from genae.metrics.frechet import FeatureStats

        return FeatureStats.from_features(self.sample_features, "sample features")

    def _extractor_settings(self) -> dict[str, Any]:
        if self.s.reference is not None:
            meta = self.s.reference.meta
            real = {"real_set": f"reference {self.s.reference_path}: {meta.get('description') or 'not recorded'}",
                    "reference_sha256": self.s.reference_sha256, "reference_n": self.s.reference.stats.n}
        else:
            cache = self.ctx.cache_files.get(self._shape())
            real = {"real_set": self.dataset.description, "real_content_hash": self.dataset.content_hash(),
                    "real_features_file": str(cache) if cache else None}
        return {**self.ctx.extractor.info(), **real}

    def _real_features(self) -> Tensor:
        return self.ctx.real_features(*self._shape())

    # -- metrics ------------------------------------------------------------------------------------
    def fid(self) -> list[dict[str, Any]]:
        from genae.metrics.frechet import frechet_distance_from_stats

        score = frechet_distance_from_stats(self.ctx.real_stats(*self._shape()), self.sample_stats)
        return [figure("fid", "fid", f"FID[{self.ctx.extractor.label}]", score.value, n=score.n_b,
                       n_real=score.n_a, generated=self.generated, **self._extractor_settings())]

    def rfid(self) -> list[dict[str, Any]]:
        """FID of reconstructions: with the sample FID it tells a prior that misses the encoder's codes (sample FID
        far above it) from a decoder that cannot draw the data (both high)."""
        from genae.metrics.frechet import FeatureStats, frechet_distance_from_stats

        features = self.ctx.extractor.extract(self.ctx.bar(_batches(self.reconstructions, self.s.batch_size),
                                                           "reconstruction features"))
        score = frechet_distance_from_stats(self.ctx.real_stats(*self._shape()),
                                            FeatureStats.from_features(features, "reconstruction features"))
        return [figure("rfid", "rfid", f"rFID[{self.ctx.extractor.label}]", score.value, n=score.n_b,
                       n_real=score.n_a, generated="reconstructions of the real images", **self._extractor_settings())]

    def kid(self) -> list[dict[str, Any]]:
        from genae.metrics.frechet import kernel_distance

        score = kernel_distance(self._real_features(), self.sample_features, seed=self.s.seed)
        return [figure("kid", "kid", f"KID[{self.ctx.extractor.label}]", score.value, n=score.n_b, std=score.std,
                       n_real=score.n_a, subsets=100 if score.std is not None else 1,
                       subset_size=min(1000, score.n_a, score.n_b),
                       std_is="sample standard deviation (ddof 1) over subsets; none with one subset",
                       kernel="(x.y/d+1)^3", **self._extractor_settings())]

    @cached_property
    def _precision_recall(self) -> dict[str, Any]:
        from genae.metrics.manifold import precision_recall

        real = self._real_features()
        with self.ctx.counter("precision/recall", 2 * (len(real) + len(self.sample_features)), "row") as bar:
            return precision_recall(real, self.sample_features, k=3, progress=bar.update)

    @cached_property
    def _density_coverage(self) -> dict[str, Any]:
        from genae.metrics.manifold import density_coverage

        real = self._real_features()
        with self.ctx.counter("density/coverage", 2 * len(real), "row") as bar:
            return density_coverage(real, self.sample_features, k=5, progress=bar.update)

    def _manifold_figure(self, name: str, result: dict[str, Any], reference: str) -> list[dict[str, Any]]:
        return [figure(name, name, f"{name}[{self.ctx.extractor.label}]", result[name], n=result["n_fake"],
                       n_real=result["n_real"], k=result["k"], definition=reference, generated=self.generated,
                       **self._extractor_settings())]

    def precision(self) -> list[dict[str, Any]]:
        return self._manifold_figure("precision", self._precision_recall, _PR_REFERENCE)

    def recall(self) -> list[dict[str, Any]]:
        return self._manifold_figure("recall", self._precision_recall, _PR_REFERENCE)

    def density(self) -> list[dict[str, Any]]:
        return self._manifold_figure("density", self._density_coverage, _DC_REFERENCE)

    def coverage(self) -> list[dict[str, Any]]:
        return self._manifold_figure("coverage", self._density_coverage, _DC_REFERENCE)

    def inception_score(self) -> list[dict[str, Any]]:
        from genae.metrics.inception_score import SPLITS, inception_score, logits_from_features

        if self.ctx.extractor.random_init and not self.ctx.extractor.shipped_weights:
            raise NotApplicable("the Inception Score needs the published Inception weights' classifier")
        result = inception_score(logits_from_features(self.ctx.extractor, self.sample_features), SPLITS)
        return [figure("is", "is", f"IS[{self.ctx.extractor.label}]", result["mean"], n=result["n"],
                       std=result["std"], splits=SPLITS, generated=self.generated,
                       std_is="population standard deviation over the splits (np.std, as the original code)",
                       classifier_head="1008 logits without bias" if self.ctx.extractor.name.startswith("inception")
                       else "the extractor's 10-class head", **self.ctx.extractor.info())]

    def fid_inf(self) -> list[dict[str, Any]]:
        from genae.metrics.fid_infinity import MIN_FRACTION, POINTS, fid_infinity

        result = fid_infinity(self.ctx.real_stats(*self._shape()), self.sample_features, seed=self.s.seed)
        return [figure("fid-inf", "fid_inf", f"FID∞[{self.ctx.extractor.label}]", result["fid_inf"],
                       n=result["n"], n_real=result["n_real"], points=POINTS, sizes=result["sizes"],
                       fids=[round(v, 6) for v in result["fids"]], slope=result["slope"],
                       fit=f"FID_N = a + b/N at {POINTS} N from {MIN_FRACTION:g}*N to N; reported a",
                       generated=self.generated, **self._extractor_settings())]

    def lpips(self) -> list[dict[str, Any]]:
        metric = self.ctx.lpips("alex")
        pairs = zip(_batches(self.real, self.s.batch_size), _batches(self.reconstructions, self.s.batch_size))
        values = torch.cat([metric(a, b, crop=self._crop()).cpu() for a, b in self.ctx.bar(pairs, "lpips")])
        return [figure("lpips", "lpips", f"LPIPS[{metric.label}]", float(values.double().mean()), n=len(values),
                       std=float(values.double().std()), crop=self._crop(), compared="real vs reconstruction",
                       **metric.info())]

    def ppl(self) -> list[dict[str, Any]]:
        from genae.metrics.ppl import EPSILON, has_w_space, interpolation_rule, perceptual_path_length

        space, variant = self.s.ppl_space, self.s.ppl_variant
        if space == "styles" and not self.model.is_style_based:
            raise NotApplicable("PPL in styles space needs a style-based decoder")
        if space == "w" and not has_w_space(self.model):
            raise NotApplicable("PPL in w space needs a model with a w space (LIA, StyleGAN2)")
        metric = self.ctx.lpips("vgg")
        n = min(self.n, self.s.ppl_n or self.n)
        crop = self._crop()
        with self.ctx.counter("ppl", n, "sample") as bar:
            result = perceptual_path_length(self.model, n, lambda a, b: metric(a, b), space=space, crop=crop,
                                            batch_size=self.s.batch_size, seed=self.s.seed, variant=variant,
                                            progress=bar.update)
        path = interpolation_rule(self.model, space, variant)
        clamp = "clamped" if variant == "genae" else "unclamped"
        cropped = f"crop {self.s.crop}" if crop else "no crop"
        return [figure("ppl", "ppl", f"PPL({space}, {path}, {clamp}, {cropped}; {variant})[{metric.label}]",
                       result["ppl"], n=result["n"], epsilon=EPSILON, space=space, path=path, variant=variant,
                       crop=crop, outputs=clamp, trimmed="1st and 99th percentiles", **metric.info())]

    def swd(self) -> list[dict[str, Any]]:
        from genae.metrics.swd import swd

        scores = swd(self.ctx.bar(_batches(self.real, self.s.batch_size), "swd real"),
                     self.ctx.bar(_batches(self.samples, self.s.batch_size), "swd samples"),
                     self.model.resolution, seed=self.s.seed)
        levels = [k for k in scores if k != "swd"]
        out = [figure("swd", "swd", "SWD x1e3 (avg)", scores["swd"], n=self.n, levels=levels,
                      compared="prior samples vs real")]
        out += [figure("swd", name, f"SWD x1e3 ({name.split('_')[1]} px)", scores[name], n=self.n, headline=False)
                for name in levels]
        return out

    def _pixel_metric(self, name: str, fn: Callable[..., Tensor], label: str, **settings: Any) -> list[dict]:
        values = fn(self.real, self.reconstructions)
        finite = values[torch.isfinite(values)]
        return [figure(name, name, label, float(finite.mean()), n=len(values), std=float(finite.std()),
                       compared="real vs reconstruction", excluded_infinite=int(len(values) - len(finite)),
                       **settings)]

    def mse(self) -> list[dict[str, Any]]:
        from genae.metrics.reconstruction import mse

        return self._pixel_metric("mse", mse, "MSE", value_range="[-1, 1]")

    def psnr(self) -> list[dict[str, Any]]:
        from genae.metrics.reconstruction import DATA_RANGE, psnr

        return self._pixel_metric("psnr", psnr, "PSNR (dB)", data_range=DATA_RANGE,
                                  mean_of="per-image PSNR")

    def ssim(self) -> list[dict[str, Any]]:
        from genae.metrics.reconstruction import DATA_RANGE, ssim

        return self._pixel_metric("ssim", ssim, "SSIM", data_range=DATA_RANGE, window="11x11 Gaussian, sigma 1.5")

    def mix_fid(self) -> list[dict[str, Any]]:
        from genae.metrics.frechet import FeatureStats, frechet_distance_from_stats
        from genae.metrics.mixing import mixed_samples

        self._require_styles()
        batches = self.ctx.bar(mixed_samples(self.model, self.n, self.s.batch_size, seed=self.s.seed), "mixing")
        features = self.ctx.extractor.extract(b.cpu() for b in batches)
        score = frechet_distance_from_stats(self.ctx.real_stats(*self._shape()),
                                            FeatureStats.from_features(features, "mixed sample features"))
        return [figure("mix-fid", "mix-fid", f"FID-mix[{self.ctx.extractor.label}]", score.value, n=score.n_b,
                       n_real=score.n_a, crossover="uniform slot in 1..S-1", **self._extractor_settings())]

    def disentanglement(self) -> list[dict[str, Any]]:
        from genae.metrics.mixing import CLASSIFIER_STEPS, scale_disentanglement

        self._require_styles()
        with self.ctx.counter("factor classifier (trained once, then cached)", CLASSIFIER_STEPS, "step") as bar:
            classifier, card, test_set = self.ctx.factor_classifier(*self._shape(), progress=bar.update)
        n = min(self.n, len(test_set))
        with self.ctx.counter("disentanglement pairs", n, "pair") as bar:
            result = scale_disentanglement(self.model, test_set, classifier, n, batch_size=self.s.batch_size,
                                           seed=self.s.seed, progress=bar.update)
        ceiling = card["test_accuracy"]
        note = {"scales_set": test_set.description, "coarse_slots": result["coarse_slots"],
                "classifier": card["classifier"]}
        out = [figure("disentanglement", "disentanglement", "scale disentanglement", result["score"], n=n,
                      ceiling=sum(ceiling.values()) / len(ceiling), all_factors=result["all_factors"], **note)]
        for name, value in result["per_factor"].items():
            side = "coarse from A" if name in result["coarse_factors"] else "fine from B"
            out.append(figure("disentanglement", f"disentanglement_{name}", f"mix keeps {name} ({side})", value,
                              n=n, headline=False, ceiling=ceiling[name],
                              reconstruction=result["reconstruction"][name], **note))
        return out

    def cluster_error(self) -> list[dict[str, Any]]:
        from genae.metrics.clustering import cluster_error

        result = cluster_error(self.model, self.real, self._class_labels(), seed=self.s.seed)
        return [figure("cluster-error", "cluster_error", "cluster error", result.pop("value"), n=result.pop("n"),
                       **result)]

    def semisup_error(self) -> list[dict[str, Any]]:
        from genae.metrics.clustering import semisupervised_error

        result = semisupervised_error(self.model, self.real, self._class_labels(), self.s.data, seed=self.s.seed)
        return [figure("semisup-error", "semisup_error", "semi-sup. error", result.pop("value"), n=result.pop("n"),
                       **result)]

    def speed(self) -> list[dict[str, Any]]:
        from genae.metrics.speed import measure_speed

        result = measure_speed(self.model, self.real[: min(self.n, 256)], self.s.batch_size)
        common = {"batch_size": result["batch_size"], "device": result["device"]}
        memory = {**common, "method": result["memory_method"]}
        return [
            figure("speed", "encode_images_per_s", "encode img/s", result["encode_images_per_s"], n=result["n"],
                   **common),
            figure("speed", "decode_images_per_s", "decode img/s", result["decode_images_per_s"], n=result["n"],
                   **common),
            figure("speed", "encode_peak_mb", "encode peak MB", result["encode_peak_memory_mb"], n=result["n"],
                   headline=False, **memory),
            figure("speed", "decode_peak_mb", "decode peak MB", result["decode_peak_memory_mb"], n=result["n"],
                   headline=False, **memory),
        ]

    def edit(self) -> list[dict[str, Any]]:
        from genae.metrics.editing import HEADLINE_STRENGTH, edit_benchmark

        if "fashion-mnist" not in str(self.s.data):
            raise NotApplicable("the edit metric judges edits with the shipped Fashion-MNIST classifier")
        result = edit_benchmark(self.model, self.real, self._class_labels(), self.s.data, seed=self.s.seed,
                                device=self.s.device, weights_dir=self.s.weights_dir)
        rates, changes = result.pop("rates"), result.pop("change")
        out = [figure("edit", f"edit_rate_{row['strength']:g}", f"{result['direction']} rate @{row['strength']:g}",
                      row["target_rate"], n=result["source_images"],
                      headline=row["strength"] in (0.0, HEADLINE_STRENGTH), movement=row["movement"], **result)
               for row in rates]
        for method, v in changes.items():
            label = f"{method} classifier change"
            out.append(figure("edit", f"{method}_change", label, sum(v) / len(v), n=result["change_images"],
                              per_direction=v, strength=result["change_strength"]) if isinstance(v, list) else
                       {**unavailable("edit", NOT_APPLICABLE, v), "name": f"{method}_change", "label": label})
        return out

    # -- helpers ------------------------------------------------------------------------------------
    def _shape(self) -> tuple[int, int]:
        return self.model.resolution, self.model.channels

    def _crop(self) -> Crop | None:
        """``--crop``: a (top, left, height, width) box, or StyleGAN's face crop at this model's resolution."""
        from genae.metrics.ppl import face_crop

        return face_crop(self.model.resolution) if self.s.crop == "face" else self.s.crop

    def _class_labels(self) -> Tensor:
        labels = self.ctx.labels(*self._shape())
        if bool((labels < 0).any()):
            raise NotApplicable(f"{self.s.data} has unlabelled images; clustering and class errors need labels")
        return labels

    def _require_styles(self) -> None:
        if not self.model.is_style_based:
            raise NotApplicable(f"{type(self.model.decoder).__name__} is not a style-based decoder")

    def run(self, metric: str) -> list[dict[str, Any]]:
        try:
            with torch.no_grad():
                return getattr(self, _METHODS.get(metric, metric).replace("-", "_"))()
        except NotApplicable as reason:
            return [unavailable(metric, NOT_APPLICABLE, str(reason))]
        except KeyboardInterrupt:
            raise
        except Exception as error:  # noqa: BLE001 - one broken metric must not sink the model's others
            return [unavailable(metric, FAILED, f"{type(error).__name__}: {error}")]

    def grids(self, folder: Path) -> dict[str, str]:
        """Inputs over reconstructions, samples and (style models) a mixing matrix, as PNG files."""
        from genae.viz import save_image_grid, style_mixing_matrix

        scale = max(1, 128 // self.model.resolution)
        written = {}
        pairs = torch.cat([self.real[:8], self.reconstructions[:8], self.real[8:16], self.reconstructions[8:16]])
        written["reconstructions"] = save_image_grid(pairs, folder / "reconstructions.png", nrow=8, scale=scale)
        written["samples"] = save_image_grid(self.samples[:32], folder / "samples.png", nrow=8, scale=scale)
        if self.model.is_style_based and self.n >= 10:
            device = self.model.device
            with torch.no_grad():
                matrix = style_mixing_matrix(self.model, self.real[:4].to(device), self.real[4:10].to(device),
                                             "coarse")
            written["mixing"] = save_image_grid(matrix, folder / "mixing.png", nrow=7, scale=scale)
        return {k: str(v) for k, v in written.items()}


_PR_REFERENCE = "Kynkaanniemi et al. 2019 (NVIDIA pr50k3): k-th NN radius, inside = distance <= radius"
_DC_REFERENCE = "Naeem et al. 2020 (prdc): k-th NN radius of real images, inside = distance < radius"


def _slug(name: str) -> str:
    """Letters, digits, '-' and '_' only: no dots or separators, so never '.', '..' or a path."""
    return re.sub(r"[^A-Za-z0-9_-]+", "_", name).strip("_") or "model"


def output_folders(out: Path, names: Sequence[str]) -> list[Path]:
    """One folder per model under ``out``, named from the model name; duplicates get -2, -3, ...

    Whatever a name holds (``..``, ``/abs/path``, ``hf-hub:org/repo``), its folder is a direct child of ``out``.
    """
    folders: list[Path] = []
    used: set[str] = set()
    for name in names:
        slug = candidate = _slug(name)
        count = 1
        while candidate.lower() in used:
            count += 1
            candidate = f"{slug}-{count}"
        used.add(candidate.lower())
        folders.append(out / candidate)
    return folders


def _check_int(value: Any, name: str, minimum: int, allow_none: bool = False) -> None:
    if value is None and allow_none:
        return
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ValueError(f"{name}: expected an int >= {minimum}, got {value!r}")


def _check_crop(crop: Crop | str | None) -> None:
    if crop is None or crop == "face":
        return
    if (not isinstance(crop, (tuple, list)) or len(crop) != 4
            or any(isinstance(v, bool) or not isinstance(v, int) for v in crop)
            or min(crop[:2]) < 0 or min(crop[2:]) < 1):
        raise ValueError(f"crop: expected 'face' or (top, left, height, width) ints with top, left >= 0 and "
                         f"height, width >= 1, got {crop!r}")


def run_bench(
    models: str | Sequence[str],
    data: str = "fashion-mnist",
    split: str = "test",
    metrics: str | Sequence[str] | None = None,
    n: int | None = None,
    seed: int = 0,
    device: str | torch.device = "cpu",
    out: str | Path | None = None,
    batch_size: int = 64,
    no_cache: bool = False,
    weights_dir: str | Path | None = None,
    extractor: str | None = None,
    ppl_space: str = "z",
    ppl_n: int | None = None,
    crop: Crop | str | None = None,
    random_weights: bool = False,
    progress: bool = True,
    meta_out: dict[str, Any] | None = None,
    reference: str | Path | None = None,
    ppl_variant: str = "genae",
    on_start: Callable[[dict[str, Any]], None] | None = None,
) -> list[dict[str, Any]]:
    """Benchmark ``models`` on ``data``/``split`` and return one record per model (also written to ``out``).

    ``metrics`` defaults to the quick set :data:`QUICK_METRICS` (``"all"`` for every metric) and ``n`` to
    :func:`default_n` of the device. ``extractor`` defaults to ``fashion-mnist-features`` for Fashion-MNIST
    data and ``inception-v3-compat`` otherwise. ``reference`` is a stored ``.npz`` of real features or
    mean/covariance (:mod:`genae.metrics.reference`) used in place of the split's images for FID, KID,
    precision/recall and density/coverage. ``random_weights`` (tests only) uses untrained LPIPS backbones /
    Inception and marks every affected label. ``ppl_n`` caps PPL's sample count (default ``n``);
    ``ppl_variant`` is ``"genae"`` or ``"stylegan"`` (:mod:`genae.metrics.ppl`); ``crop`` is a box or
    ``"face"``. ``meta_out``, if given, receives the run's settings and environment (results.json's ``meta``);
    ``on_start`` is called with them once every argument is checked, before any work starts.
    """
    from genae.metrics.ppl import SPACES, VARIANTS

    names = [m.strip() for m in models.split(",")] if isinstance(models, str) else list(models)
    names = [m for m in names if m]
    if not names:
        raise ValueError("models: give at least one model name, folder or hf-hub: name")
    chosen = parse_metrics(metrics)
    n = default_n(device) if n is None else n
    if isinstance(n, bool) or not isinstance(n, int) or n < 2:
        raise ValueError(f"n: too few samples; expected an int >= 2, got {n!r}")
    _check_int(batch_size, "batch_size", 1)
    _check_int(seed, "seed", 0)
    _check_int(ppl_n, "ppl_n", 2, allow_none=True)
    _check_crop(crop)
    if ppl_space not in SPACES:
        raise ValueError(f"ppl_space: expected one of {', '.join(SPACES)}, got {ppl_space!r}")
    if ppl_variant not in VARIANTS:
        raise ValueError(f"ppl_variant: expected one of {', '.join(VARIANTS)}, got {ppl_variant!r}")
    from genae.data import open_dataset

    check_sample_size(n, len(open_dataset(data, split=split, seed=seed)), f"{data} {split} split")
    settings = _Settings(
        data=data, split=split, n=n, seed=seed, device=torch.device(device), batch_size=batch_size,
        cache_dir=None if no_cache else cache_root(), weights_dir=Path(weights_dir) if weights_dir else None,
        extractor=extractor or ("fashion-mnist-features" if "fashion-mnist" in str(data) else "inception-v3-compat"),
        ppl_space=ppl_space, ppl_n=ppl_n, crop=crop, random_weights=random_weights, progress=progress,
        ppl_variant=ppl_variant, reference=None, reference_path=None, reference_sha256=None,
    )
    ctx = _RunContext(settings)
    if reference is not None:
        from genae.metrics._files import sha256_file
        from genae.metrics.reference import load_reference

        settings.reference = load_reference(reference)
        settings.reference.check_extractor(ctx.extractor.info(), f"reference {reference}")
        settings.reference_path, settings.reference_sha256 = str(reference), sha256_file(Path(reference))
    meta = {
        "data": data, "split": split, "n": n, "seed": seed, "metrics": chosen,
        "metric_set": "quick default" if metrics in (None, "quick") else "all" if metrics == "all" else "chosen",
        "batch_size": batch_size, "extractor": settings.extractor, "random_weights": random_weights,
        "ppl_space": ppl_space, "ppl_variant": ppl_variant, "ppl_n": ppl_n, "crop": crop,
        "reference": settings.reference_path, "reference_sha256": settings.reference_sha256,
        "started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), **environment(settings.device),
    }
    if meta_out is not None:
        meta_out.update(meta)
    if on_start is not None:
        on_start(meta)
    folders = output_folders(Path(out), names) if out is not None else [None] * len(names)
    records: list[dict[str, Any]] = []
    for name, folder in zip(progress_iter(names, desc="models", enabled=progress, unit="model"), folders):
        record = {"model": name, "status": "running", "error": None, "figures": [], "images": {}}
        records.append(record)
        try:
            _bench_one(ctx, name, chosen, record, folder)
        except KeyboardInterrupt:
            record.update(status="interrupted", error="interrupted by the user (Ctrl-C)")
            _write(out, meta, records)
            raise
        _write(out, meta, records)
    return records


def _bench_one(ctx: _RunContext, name: str, metrics: list[str], record: dict[str, Any], folder: Path | None) -> None:
    import genae

    started = time.time()
    try:
        resolved = resolve_model_name(name, ctx.s.data)
        model = genae.load(resolved, device=ctx.s.device).eval()
        record.update(resolved=resolved, architecture=model.architecture, plugin=model.plugin,
                      resolution=model.resolution, channels=model.channels,
                      style_based=model.is_style_based, prior="spherical" if model.prior.is_spherical else "flat")
        run = _ModelRun(ctx, model)
        record["metric_seconds"] = {}
        with progress_bar(len(metrics), desc=name, leave=False, enabled=ctx.s.progress, unit="metric") as bar:
            for metric in metrics:
                bar.set_postfix_str(metric)
                began = time.time()
                record["figures"].extend(run.run(metric))
                record["metric_seconds"][metric] = round(time.time() - began, 2)
                bar.update(1)
        if folder is not None:
            record["images"] = run.grids(folder)
        record["status"] = "ok"
    except KeyboardInterrupt:
        raise
    except Exception as error:  # noqa: BLE001 - a failing model is reported and the others still run
        record.update(status="failed", error=f"{type(error).__name__}: {error}",
                      traceback=traceback.format_exc(limit=8))
    finally:
        record["seconds"] = round(time.time() - started, 2)


def _write(out: str | Path | None, meta: dict[str, Any], records: list[dict[str, Any]]) -> None:
    if out is None:
        return
    from genae.bench.report import write_reports

    write_reports(Path(out), meta, records)

