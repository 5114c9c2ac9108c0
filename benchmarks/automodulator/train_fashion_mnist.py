"""Train the bundled ``automodulator-fashion-mnist-32`` on CPU, evaluate it, and (optionally) package it.

This is the exact script that produced the shipped weights; the model card records its command line.

    OMP_NUM_THREADS=1 python benchmarks/automodulator/train_fashion_mnist.py --out runs/automod-fm32 --package

One thread: on a machine whose 2 cores are shared by several jobs, 2 torch threads ran 6-10x *slower*
than 1 (each parallel region waits for a descheduled thread).

Trains through the shared :class:`genae.training.Trainer` with the full :class:`AutomodulatorRecipe`
(progressive growing 4 → 32 px), then evaluates the exported EMA model on the shipped test subset
(``fashion-mnist-mini``, test split): reconstruction MSE against the mean-image baseline, per-block style
influence and a coarse-swap test; it writes image grids next to the run and, with ``--package``, copies
the model folder with its card into ``genae_plugins/automodulator/pretrained/automodulator-fashion-mnist-32``.
"""

from __future__ import annotations

import argparse
import json
import platform
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

import torch
from torch import Tensor
from torch.nn import functional as F

import genae
from genae.bench.provenance import git_commit
from genae.bench.runner import run_bench
from genae.data import open_dataset
from genae.io import write_text_atomic
from genae.training.recipe import Phase
from genae.training.trainer import Trainer
from genae.viz import save_image_grid, style_mixing_matrix
from genae_plugins.automodulator.losses import mixed_styles, style_influence

REPO = Path(__file__).resolve().parents[2]
PACKAGE_DIR = REPO / "genae_plugins" / "automodulator" / "pretrained" / "automodulator-fashion-mnist-32"
FASHION_ROOT = "/usr/share/datasets/fashion-mnist"
MODEL_CONFIG: dict[str, Any] = {
    "resolution": 32,
    "channels_in": 1,
    "latent_dim": 128,
    "channels": [128, 64, 32, 16],  # decoder widths at 4, 8, 16, 32 px
    "encoder_channels": [64, 32, 16, 16],  # encoder widths entering the 4, 8, 16, 32 px blocks
}


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", required=True, type=Path, help="run folder (checkpoints, metrics, grids, model)")
    parser.add_argument("--images-per-phase", type=int, default=2_000,
                        help="images at each of 4, 8 and 16 px (the final 32 px phase runs to --total-images)")
    parser.add_argument("--fade-images", type=int, default=1_000)
    parser.add_argument("--total-images", type=int, default=90_000, help="length of the run (real images)")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--resume", action="store_true", help="continue the run in --out")
    parser.add_argument("--evaluate-only", action="store_true", help="skip training; evaluate --out/model")
    parser.add_argument("--package", action="store_true", help=f"copy the trained model to {PACKAGE_DIR}")
    parser.add_argument("--weights", choices=("ema", "live"), default="ema",
                        help="evaluate/package the EMA decoder (the trainer's export) or the live weights of the "
                             "final checkpoint (for runs too short for the EMA to forget early phases)")
    parser.add_argument("--prior-components", type=int, default=10,
                        help="with --package: fit a Gaussian mixture of this many components to the codes of the "
                             "train split as the model's prior (genae.fit_prior); 0 keeps the sphere prior")
    parser.add_argument("--fid-n", type=int, default=10_000, help="with --package: samples per FID on the card")
    parser.add_argument("--config", action="append", default=[], metavar="FIELD=JSON",
                        help="model config override, e.g. --config support_block=1 (repeatable)")
    parser.add_argument("--option", action="append", default=[], metavar="NAME=JSON",
                        help="extra recipe option, e.g. --option layer_weight=0 (repeatable)")
    return parser.parse_args(argv)


def recipe_options(args: argparse.Namespace) -> dict[str, Any]:
    options: dict[str, Any] = {
        "images_per_phase": args.images_per_phase,
        "fade_images": args.fade_images,
        "batch_sizes": {4: 64, 8: 64, 16: 32, 32: 32},
        "monitor_every": 25,
        # Not the authors' balance: with minutes instead of GPU-weeks, the decoder also gets the pixel
        # reconstruction (their decoder learns only through the encoder) and both weights are 1.0 (not
        # 0.2). Trial runs of 20k images: training MSE 0.13 vs 0.25 (mean-image baseline 0.26) at 16 px.
        "reconstruction_weight": 1.0,
        "decoder_reconstruction_weight": 1.0,
        # A small KL-gap margin from the first phase (authors: 0.5 from phase 2). At the default margin the
        # encoder's gap term dominates it for the whole run and reconstructions stay blobs: 24k-image trials
        # (`--images-per-phase 2000 --fade-images 1000 --total-images 24000`): test MSE 0.093 with these
        # two options vs 0.185 without (and `4000/2000` phases); prior round-trip cosine 0.15 vs 0.02.
        "margin": 0.05,
        "margin_from_phase": 0,
    }
    return {**options, **parse_pairs(args.option)}


def parse_pairs(items: list[str]) -> dict[str, Any]:
    """``NAME=JSON`` command-line pairs as a dict."""
    pairs = {}
    for item in items:
        name, _, value = item.partition("=")
        pairs[name] = json.loads(value)
    return pairs


def train(args: argparse.Namespace) -> Path:
    model = genae.create("automodulator", **{**MODEL_CONFIG, **parse_pairs(args.config)})
    dataset = open_dataset("fashion-mnist", split="train", resolution=32, root=FASHION_ROOT)
    spec = genae.registry.REGISTRY.model_spec("automodulator")
    recipe = genae.registry.import_object(spec.recipe)(model, **recipe_options(args))
    trainer = Trainer(
        model, recipe, dataset, out_dir=args.out, total_images=args.total_images, seed=args.seed,
        log_every=25, grid_every=250, checkpoint_every=250, progress=False,
    )
    result = trainer.fit(resume=args.resume)
    print(f"trained {result.steps} steps, {result.images_seen} images, {result.wall_time_s:.0f} s", flush=True)
    return result.model_dir  # type: ignore[return-value]


def mean_image_baseline(test: Tensor) -> float:
    """MSE of predicting every test image by the mean Fashion-MNIST training image."""
    train = open_dataset("fashion-mnist", split="train", resolution=32, root=FASHION_ROOT)
    total = torch.zeros(train[0][0].shape)
    for i in range(len(train)):
        total += train[i][0]
    mean = total / len(train)
    return float(((test - mean) ** 2).mean())


def standardised(images: Tensor, size: int = 8) -> Tensor:
    """Images pooled to ``size`` px and standardised per image: shape without intensity."""
    small = F.adaptive_avg_pool2d(images, size).flatten(1)
    return (small - small.mean(1, keepdim=True)) / (small.std(1, keepdim=True) + 1e-6)


@torch.no_grad()
def coarse_swap(model: Any, images: Tensor) -> dict[str, float]:
    """Decode coarse styles from A and the rest from B (B = A rolled by one), then ask whose silhouette it has.

    Compares brightness-normalised 8x8 versions (fine styles legitimately set intensity): ``coarse_keeps_a``
    is the share of mixes closer to A than to B; ``corr_a``/``corr_b`` the mean correlations.
    """
    a, b = images, images.roll(1, dims=0)
    mix = model.mix([model.encode(a), model.encode(b)], ["coarse", None]).clamp(-1, 1)
    m, sa, sb = standardised(mix), standardised(a), standardised(b)
    corr_a, corr_b = (m * sa).mean(1), (m * sb).mean(1)
    return {
        "coarse_keeps_a": float((corr_a > corr_b).float().mean()),
        "corr_a": float(corr_a.mean()),
        "corr_b": float(corr_b.mean()),
    }


@torch.no_grad()
def evaluate(model_dir: Path, grids_dir: Path) -> dict[str, Any]:
    model = genae.load(model_dir).eval()
    test_set = open_dataset("fashion-mnist-mini", split="test", resolution=32)
    test = torch.stack([test_set[i][0] for i in range(len(test_set))])
    recon = model.reconstruct(test).clamp(-1, 1)
    mse = float(((recon - test) ** 2).mean())
    baseline = mean_image_baseline(test)
    full = Phase(model.decoder.num_blocks - 1, model.resolution, 1.0, len(test), 0.0, False)
    influence = style_influence(model, test[:200], full)
    swap = coarse_swap(model, test[:200])
    latents = model.prior.sample(16, generator=torch.Generator().manual_seed(0))
    prior_cos = float(F.cosine_similarity(model.encode(model.decode(latents).clamp(-1, 1)), latents).mean())

    grids_dir.mkdir(parents=True, exist_ok=True)
    picks = test[:16]
    save_image_grid(torch.cat([picks, model.reconstruct(picks).clamp(-1, 1)]), grids_dir / "reconstructions.png",
                    nrow=16, scale=3)
    save_image_grid(model.decode(latents).clamp(-1, 1), grids_dir / "samples.png", nrow=16, scale=3)
    rows, cols = test[16:22], test[22:30]
    for name in ("coarse", "intermediate", "fine"):
        grid = style_mixing_matrix(model, rows, cols, name).clamp(-1, 1)
        save_image_grid(grid, grids_dir / f"mix-{name}-from-rows.png", nrow=cols.shape[0] + 1, scale=3)
    n = model.decoder.num_styles
    z = model.encode(rows)
    per_block = [model.decoder.forward_styles(mixed_styles(z, z.roll(1, 0), s, n)).clamp(-1, 1) for s in range(n + 1)]
    save_image_grid(torch.stack(per_block, 1).flatten(0, 1), grids_dir / "split-sweep.png", nrow=n + 1, scale=3)
    return {
        "test_mse": round(mse, 5),
        "mean_image_baseline_mse": round(baseline, 5),
        "mse_over_baseline": round(mse / baseline, 4),
        "style_influence": {k: round(v, 4) for k, v in influence.items()},
        "coarse_swap": {k: round(v, 4) for k, v in swap.items()},
        "prior_round_trip_cosine": round(prior_cos, 4),
        "test_images": len(test),
    }


def sample_fid(model: Any, work: Path, n: int) -> float:
    """``genae bench`` FID[fashion-mnist-features] of ``model``'s prior samples against the test split (seed 0)."""
    folder = model.save_pretrained(work)
    record = run_bench([str(folder)], data="fashion-mnist", metrics="fid", n=n, seed=0, progress=False)[0]
    if record["status"] != "ok":
        raise RuntimeError(f"bench failed: {record['error']}")
    return round(next(f["value"] for f in record["figures"] if f["metric"] == "fid"), 2)


def package(model_dir: Path, metrics: dict[str, Any], args: argparse.Namespace) -> None:
    model = genae.load(model_dir)
    card = dict(model.card)
    training_args = (f"--out {args.out} --images-per-phase {args.images_per_phase} --fade-images "
                     f"{args.fade_images} --total-images {args.total_images} --threads {args.threads} --seed {args.seed}")
    extra = "".join(f" --option {item}" for item in args.option)
    command = f"OMP_NUM_THREADS={args.threads} python benchmarks/automodulator/train_fashion_mnist.py {training_args}{extra}"
    with tempfile.TemporaryDirectory() as work:
        sphere_fid = sample_fid(model, Path(work) / "sphere", args.fid_n)
        fid = {f"sample FID[fashion-mnist-features], N={args.fid_n:,}, sphere prior": sphere_fid}
        fitted = None
        if args.prior_components:
            genae.fit_prior(model, "fashion-mnist", components=args.prior_components, progress=False)
            fitted = sample_fid(model, Path(work) / "fitted", args.fid_n)
            fid[f"sample FID[fashion-mnist-features], N={args.fid_n:,}, fitted prior (default)"] = fitted
    print(json.dumps(fid), flush=True)
    samples = (
        f"Samples come from a {args.prior_components}-component Gaussian mixture fitted to the encoder's codes of the "
        "training images (genae.fit_prior), because the paper's sphere prior still decodes to blobs at this budget: "
        f"the prior latent round trip is only partly learned (cos(E(D(z)), z) = {metrics['prior_round_trip_cosine']:.2f}; "
        f"the adversarial KL game needs far longer). Sample FID {sphere_fid} with the sphere prior "
        "(model.prior.base), "
        f"{fitted} with the fitted one." if fitted is not None else
        "Random samples are rough garment shapes: the prior latent round trip is only partly learned "
        f"(cos(E(D(z)), z) = {metrics['prior_round_trip_cosine']:.2f}; the adversarial KL game needs far longer)."
    )
    card.update({
        "name": "automodulator-fashion-mnist-32",
        "load_name": "automodulator-fashion-mnist-32",
        "license": "mit",
        "description": (
            "A small automodulator (Heljakka et al. 2020) trained on Fashion-MNIST at 32x32 (1 channel, "
            f"128-d latent on the unit sphere) with {args.threads} torch thread(s) on a 2-core CPU, with the full genae recipe: progressive "
            "growing 4 to 32 px, adversarial KL game, prior latent round trip, layer-specific mixing loss and "
            "Barron's adaptive robust loss. Unlike the authors, the decoder also gets a pixel reconstruction term "
            "(decoder_reconstruction_weight=1, reconstruction_weight=1) and the KL-gap margin is 0.05 from the "
            "first phase (authors: 0.5 from the third); short 4-16 px phases: see benchmarks/automodulator/. "
            f"Weights: {card.get('weights', 'decoder EMA (decay 0.999), as exported by the trainer')}. "
            "Sample FID along the run: benchmarks/results/automodulator-fid-curve.md in the genae repository."
        ),
        "data_preparation": "Fashion-MNIST train split (60,000 images), 28x28 zero-padded to 32x32, in [-1, 1]",
        "source": f"trained by `{command}`; packaged at git commit {git_commit() or 'unknown'} "
                  f"({platform.processor() or platform.machine()})",
        "metrics": {
            "test MSE (fashion-mnist-mini test, 200 images, [-1, 1])": metrics["test_mse"],
            "mean-image baseline MSE": metrics["mean_image_baseline_mse"],
            "MSE / baseline": metrics["mse_over_baseline"],
            "coarse-swap: mix keeps A's 8x8 silhouette": metrics["coarse_swap"]["coarse_keeps_a"],
            "prior round trip cos(E(D(z)), z)": metrics["prior_round_trip_cosine"],
            "style influence per block (mean abs pixel change)": metrics["style_influence"],
            **fid,
        },
        "limitations": (
            f"Trained for {card['wall_time_s'] / 60:.0f} minutes of CPU: reconstructions keep the garment's class and silhouette but are "
            f"blurry and lose fine detail (prints, logos, stripes). {samples} Coarse styles (4-8 px) carry the "
            "silhouette, finer ones mostly intensity: in the "
            f"coarse-swap test {metrics['coarse_swap']['coarse_keeps_a']:.0%} of mixes keep A's silhouette."
        ),
    })
    PACKAGE_DIR.parent.mkdir(parents=True, exist_ok=True)
    staging = PACKAGE_DIR.with_name(PACKAGE_DIR.name + ".tmp")
    shutil.rmtree(staging, ignore_errors=True)
    model.save_pretrained(staging, card=card)
    shutil.rmtree(PACKAGE_DIR, ignore_errors=True)
    staging.rename(PACKAGE_DIR)
    print(f"packaged {PACKAGE_DIR}", flush=True)


def export_live(out: Path) -> Path:
    """``out/model-live``: the final checkpoint's live (not averaged) weights, with the export's config and card."""
    model = genae.load(out / "model")
    state = torch.load(out / "checkpoint.pt", map_location="cpu", weights_only=True)
    model.load_state_dict(state["model"])
    card = {**model.card, "weights": f"live weights of the final checkpoint (step {state['step']}), not the EMA"}
    return model.save_pretrained(out / "model-live", card=card)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    torch.set_num_threads(args.threads)
    started = time.time()
    model_dir = args.out / "model" if args.evaluate_only else train(args)
    if args.weights == "live":
        model_dir = export_live(args.out)
    metrics = evaluate(model_dir, args.out / f"eval-{args.weights}")
    metrics["script_wall_time_s"] = round(time.time() - started, 1)
    metrics["weights"] = args.weights
    write_text_atomic(args.out / f"eval-{args.weights}" / "metrics.json", json.dumps(metrics, indent=2) + "\n")
    print(json.dumps(metrics, indent=2), flush=True)
    if args.package:
        package(model_dir, metrics, args)


if __name__ == "__main__":
    main()
