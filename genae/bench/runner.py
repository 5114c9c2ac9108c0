"""``run_bench``: every requested metric for every model on one dataset split, with full provenance.

Per model, images are generated once (prior samples, reconstructions of the held-out split) and shared
by the metrics that need them. Real-data features are cached on disk, keyed by the dataset's content
hash, the chosen images and the extractor's weights. A model that fails is recorded as failed and the
run goes on; results are written after every model, so an interrupted run keeps what it finished.
"""

from __future__ import annotations

import hashlib
import json
import re
import time
import traceback
from collections.abc import Callable, Iterable, Iterator, Sequence
from functools import cached_property
from pathlib import Path
from typing import Any

import torch
from torch import Tensor
from tqdm.auto import tqdm

from genae.bench.figures import FAILED, NOT_APPLICABLE, NotApplicable, figure, unavailable
from genae.bench.provenance import cache_root, environment
from genae.metrics.perceptual import Crop

#: Every metric the runner knows, in the order it computes and prints them.
METRICS: dict[str, str] = {
    "fid": "Frechet distance between features of prior samples and of the real split",
    "kid": "kernel (polynomial, degree 3) distance, same sets as fid",
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
}


def parse_metrics(metrics: str | Sequence[str] | None) -> list[str]:
    """Validate metric names (comma-separated or a list); ``None`` or ``"all"`` means every metric."""
    if metrics is None or metrics == "all":
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


def _batches(images: Tensor, batch_size: int) -> Iterator[Tensor]:
    yield from images.split(batch_size)


class _RunContext:
    """What all models of one run share: data per (resolution, channels), extractor, LPIPS nets, caches."""

    def __init__(self, s: _Settings) -> None:
        self.s = s
        self._real: dict[tuple[int, int], tuple[Any, Tensor, str]] = {}
        self._labels: dict[tuple[int, int], Tensor] = {}
        self._features: dict[tuple[int, int], Tensor] = {}
        self._classifiers: dict[tuple[int, int], tuple[Any, dict[str, Any]]] = {}
        self._lpips: dict[str, Any] = {}

    def bar(self, iterable: Iterable[Any], desc: str, total: int | None = None) -> Iterable[Any]:
        return tqdm(iterable, desc=desc, total=total, leave=False, disable=not self.s.progress, unit="batch")

    def real(self, resolution: int, channels: int) -> tuple[Any, Tensor, str]:
        """The dataset at this shape, the ``n`` evaluation images drawn from it (seeded), their indices' hash."""
        key = (resolution, channels)
        if key not in self._real:
            from genae.data import open_dataset

            dataset = open_dataset(self.s.data, split=self.s.split, resolution=resolution, channels=channels,
                                   seed=self.s.seed)
            check_sample_size(self.s.n, len(dataset), f"{self.s.data} {self.s.split} split")
            generator = torch.Generator().manual_seed(self.s.seed)
            indices = torch.randperm(len(dataset), generator=generator)[: self.s.n].sort().values
            images = torch.stack([dataset[int(i)][0] for i in indices])
            self._real[key] = (dataset, images, hashlib.sha256(indices.numpy().tobytes()).hexdigest()[:16])
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
        """Extractor features of the real images, from the disk cache when the same set was seen before."""
        key = (resolution, channels)
        if key in self._features:
            return self._features[key]
        dataset, images, indices_hash = self.real(resolution, channels)
        info = self.extractor.info()
        cache_key = hashlib.sha256(json.dumps({
            "dataset": dataset.content_hash(), "indices": indices_hash, "n": len(images),
            "extractor": info["extractor"], "weights": info["weights_sha256"], "random": info["random_init"],
        }, sort_keys=True).encode()).hexdigest()[:24]
        path = self.s.cache_dir / "bench" / f"features-{cache_key}.safetensors" if self.s.cache_dir else None
        if path is not None and path.is_file():
            from safetensors.torch import load_file

            features = load_file(str(path))["features"]
        else:
            features = self.extractor.extract(self.bar(_batches(images, self.s.batch_size), "real features"))
            if path is not None:
                from safetensors.torch import save_file

                from genae.io import atomic_path

                with atomic_path(path) as tmp:
                    save_file({"features": features.contiguous()}, str(tmp))
        self._features[key] = features
        return features

    def factor_classifier(self, resolution: int, channels: int) -> tuple[Any, dict[str, Any], Any]:
        from genae.data import open_dataset
        from genae.metrics.mixing import load_or_train_classifier

        def open_scales(split: str) -> Any:
            return open_dataset("scales", split=split, resolution=resolution, channels=channels)

        key = (resolution, channels)
        if key not in self._classifiers:
            cache = self.s.cache_dir / "bench" / "scale-classifiers" if self.s.cache_dir else None
            self._classifiers[key] = load_or_train_classifier(open_scales, cache, seed=self.s.seed,
                                                              device=self.s.device)
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

    def _extractor_settings(self) -> dict[str, Any]:
        return {**self.ctx.extractor.info(), "real_set": self.dataset.description,
                "real_content_hash": self.dataset.content_hash()}

    # -- metrics ------------------------------------------------------------------------------------
    def fid(self) -> list[dict[str, Any]]:
        from genae.metrics.frechet import frechet_distance

        score = frechet_distance(self.ctx.real_features(*self._shape()), self.sample_features)
        return [figure("fid", "fid", f"FID[{self.ctx.extractor.label}]", score.value, n=score.n_b,
                       n_real=score.n_a, generated="prior samples", **self._extractor_settings())]

    def kid(self) -> list[dict[str, Any]]:
        from genae.metrics.frechet import kernel_distance

        score = kernel_distance(self.ctx.real_features(*self._shape()), self.sample_features, seed=self.s.seed)
        return [figure("kid", "kid", f"KID[{self.ctx.extractor.label}]", score.value, n=score.n_b, std=score.std,
                       n_real=score.n_a, subsets=100, subset_size=min(1000, score.n_a, score.n_b),
                       kernel="(x.y/d+1)^3", **self._extractor_settings())]

    def lpips(self) -> list[dict[str, Any]]:
        metric = self.ctx.lpips("alex")
        pairs = zip(_batches(self.real, self.s.batch_size), _batches(self.reconstructions, self.s.batch_size))
        values = torch.cat([metric(a, b, crop=self.s.crop).cpu() for a, b in self.ctx.bar(pairs, "lpips")])
        return [figure("lpips", "lpips", f"LPIPS[{metric.label}]", float(values.double().mean()), n=len(values),
                       std=float(values.double().std()), crop=self.s.crop, compared="real vs reconstruction",
                       **metric.info())]

    def ppl(self) -> list[dict[str, Any]]:
        from genae.metrics.ppl import EPSILON, perceptual_path_length

        if self.s.ppl_space == "styles" and not self.model.is_style_based:
            raise NotApplicable("PPL in styles space needs a style-based decoder")
        metric = self.ctx.lpips("vgg")
        n = min(self.n, self.s.ppl_n or self.n)
        result = perceptual_path_length(self.model, n, lambda a, b: metric(a, b), space=self.s.ppl_space,
                                        crop=self.s.crop, batch_size=self.s.batch_size, seed=self.s.seed)
        path = "slerp" if self.model.prior.is_spherical else "lerp"
        return [figure("ppl", "ppl", f"PPL({self.s.ppl_space})[{metric.label}]", result["ppl"], n=result["n"],
                       epsilon=EPSILON, space=self.s.ppl_space, path=path, crop=self.s.crop,
                       trimmed="1st and 99th percentiles", **metric.info())]

    def swd(self) -> list[dict[str, Any]]:
        from genae.metrics.swd import swd

        scores = swd(_batches(self.real, self.s.batch_size), _batches(self.samples, self.s.batch_size),
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
        from genae.metrics.frechet import frechet_distance
        from genae.metrics.mixing import mixed_samples

        self._require_styles()
        batches = self.ctx.bar(mixed_samples(self.model, self.n, self.s.batch_size, seed=self.s.seed), "mixing")
        features = self.ctx.extractor.extract(b.cpu() for b in batches)
        score = frechet_distance(self.ctx.real_features(*self._shape()), features)
        return [figure("mix-fid", "mix-fid", f"FID-mix[{self.ctx.extractor.label}]", score.value, n=score.n_b,
                       n_real=score.n_a, crossover="uniform slot in 1..S-1", **self._extractor_settings())]

    def disentanglement(self) -> list[dict[str, Any]]:
        from genae.metrics.mixing import scale_disentanglement

        self._require_styles()
        classifier, card, test_set = self.ctx.factor_classifier(self.model.resolution, self.model.channels)
        n = min(self.n, len(test_set))
        result = scale_disentanglement(self.model, test_set, classifier, n, batch_size=self.s.batch_size,
                                       seed=self.s.seed)
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

    # -- helpers ------------------------------------------------------------------------------------
    def _shape(self) -> tuple[int, int]:
        return self.model.resolution, self.model.channels

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
                return getattr(self, metric.replace("-", "_"))()
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


def _safe_name(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", name).strip("_") or "model"


def run_bench(
    models: str | Sequence[str],
    data: str = "fashion-mnist",
    split: str = "test",
    metrics: str | Sequence[str] | None = None,
    n: int = 10000,
    seed: int = 0,
    device: str | torch.device = "cpu",
    out: str | Path | None = None,
    batch_size: int = 64,
    no_cache: bool = False,
    weights_dir: str | Path | None = None,
    extractor: str | None = None,
    ppl_space: str = "z",
    ppl_n: int | None = None,
    crop: Crop | None = None,
    random_weights: bool = False,
    progress: bool = True,
    meta_out: dict[str, Any] | None = None,
) -> list[dict[str, Any]]:
    """Benchmark ``models`` on ``data``/``split`` and return one record per model (also written to ``out``).

    ``extractor`` defaults to ``fashion-mnist-features`` for Fashion-MNIST data and ``inception-v3-compat``
    otherwise. ``random_weights`` (tests only) uses untrained LPIPS backbones / Inception and marks every
    affected label. ``ppl_n`` caps PPL's sample count (default ``n``). ``meta_out``, if given, receives the
    run's settings and environment (the ``meta`` part of results.json).
    """
    names = [m.strip() for m in models.split(",")] if isinstance(models, str) else list(models)
    names = [m for m in names if m]
    if not names:
        raise ValueError("models: give at least one model name, folder or hf-hub: name")
    chosen = parse_metrics(metrics)
    if isinstance(n, bool) or not isinstance(n, int) or n < 2:
        raise ValueError(f"n: too few samples; expected an int >= 2, got {n!r}")
    if not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"batch_size: expected a positive int, got {batch_size!r}")
    if ppl_space not in ("z", "styles"):
        raise ValueError(f"ppl_space: expected 'z' or 'styles', got {ppl_space!r}")
    from genae.data import open_dataset

    check_sample_size(n, len(open_dataset(data, split=split, seed=seed)), f"{data} {split} split")
    settings = _Settings(
        data=data, split=split, n=n, seed=seed, device=torch.device(device), batch_size=batch_size,
        cache_dir=None if no_cache else cache_root(), weights_dir=Path(weights_dir) if weights_dir else None,
        extractor=extractor or ("fashion-mnist-features" if "fashion-mnist" in str(data) else "inception-v3-compat"),
        ppl_space=ppl_space, ppl_n=ppl_n, crop=crop, random_weights=random_weights, progress=progress,
    )
    meta = {
        "data": data, "split": split, "n": n, "seed": seed, "metrics": chosen, "batch_size": batch_size,
        "extractor": settings.extractor, "random_weights": random_weights, "ppl_space": ppl_space,
        "ppl_n": ppl_n, "crop": crop, "started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        **environment(settings.device),
    }
    if meta_out is not None:
        meta_out.update(meta)
    ctx = _RunContext(settings)
    records: list[dict[str, Any]] = []
    outer = tqdm(names, desc="models", disable=not progress, unit="model")
    for name in outer:
        outer.set_postfix_str(name)
        record = {"model": name, "status": "running", "error": None, "figures": [], "images": {}}
        records.append(record)
        try:
            _bench_one(ctx, name, chosen, record, Path(out) / _safe_name(name) if out else None)
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
        for metric in tqdm(metrics, desc=name, leave=False, disable=not ctx.s.progress, unit="metric"):
            began = time.time()
            record["figures"].extend(run.run(metric))
            record["metric_seconds"][metric] = round(time.time() - began, 2)
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

