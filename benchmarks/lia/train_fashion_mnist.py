"""Train the bundled ``lia-fashion-mnist-32`` (both stages), evaluate it and package it.

This is the exact script that produced ``genae_plugins/lia/pretrained/lia-fashion-mnist-32``; its card
records the commands and the git commit.

    OMP_NUM_THREADS=1 nice -n 5 python benchmarks/lia/train_fashion_mnist.py --out runs/lia-fm32 --stage 1
    OMP_NUM_THREADS=1 nice -n 5 python benchmarks/lia/train_fashion_mnist.py --out runs/lia-fm32 --stage 2
    OMP_NUM_THREADS=1 python benchmarks/lia/train_fashion_mnist.py --out runs/lia-fm32 --package

Both stages run through the shared Trainer with the registered recipe (``genae train lia ...`` does the
same; see docs/lia.md). Sized for a shared 2-core CPU: widths of the bundled autoencoders (generator
[128, 64, 32, 16] like the bundled automodulator's decoder, discriminator and encoder [64, 32, 16, 16]), a
64-d latent, stage 1 growing 4 → 32 px with short low-resolution phases, stage 2 at 32 px. Departures from
the paper at this scale are listed in :data:`DEVIATIONS` and on the card.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
from pathlib import Path
from typing import Any

import torch

import genae
from genae.bench.provenance import git_commit
from genae.data import open_dataset
from genae.io import write_text_atomic
from genae.training import Trainer
from genae.viz import save_image_grid, style_mixing_matrix
from genae_plugins.lia.recipe import LIARecipe

REPO = Path(__file__).resolve().parents[2]
PRETRAINED = REPO / "genae_plugins" / "lia" / "pretrained" / "lia-fashion-mnist-32"
RESULTS = REPO / "benchmarks" / "results" / "lia-fashion-mnist-32"
FASHION_ROOT = "/usr/share/datasets/fashion-mnist"
MODEL_CONFIG: dict[str, Any] = {
    "resolution": 32,
    "channels_in": 1,
    "latent_dim": 64,
    "channels": [128, 64, 32, 16],
    "discriminator_channels": [64, 32, 16, 16],
    "encoder_channels": [64, 32, 16, 16],
}
STAGE1_OPTIONS: dict[str, Any] = {
    "stage": 1, "batch_size": 32, "images_per_phase": 8_000, "fade_images": 4_000, "ema_decay": 0.995,
}
STAGE2_OPTIONS: dict[str, Any] = {"stage": 2, "batch_size": 32, "perceptual": "fashion-mnist"}
STAGE_COMMAND = "OMP_NUM_THREADS=1 nice -n 5 python benchmarks/lia/train_fashion_mnist.py --out {out} --stage {stage}"
DEVIATIONS = (
    "Scale: 32×32 grey Fashion-MNIST, 64-d latent, generator widths [128, 64, 32, 16] (StyleGAN: 512), a few "
    "CPU minutes per stage. Perceptual network: the shipped Fashion-MNIST classifier's last conv block "
    "(128×4×4) with β₁ = 1.0 instead of VGG-16 conv4_3 with β₁ = 5e-5 (no ImageNet weights offline, and VGG "
    "means little on 32-px grey clothing). Generator EMA decay 0.995 instead of 0.999 (a run of 2,500 "
    "steps). Growing 4 → 32 px with 8,000 images per low-resolution phase (StyleGAN: 600k-800k). "
    "The AdaIN is genae's shared one (unbiased std, no epsilon, style biases 1), not StyleGAN's exact form; "
    "to_rgb is a plain 1×1 conv; dense-layer biases of the flow are not scaled by the 0.01 learning-rate "
    "multiplier. Stage 2 decodes without noise (eval mode) rather than with one fixed noise draw."
)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", required=True, type=Path, help="run folder: stage1/, stage2/, eval/")
    parser.add_argument("--stage", type=int, choices=(1, 2), help="train this stage")
    parser.add_argument("--images", type=int, default=None, help="training images (default 80,000 / 30,000)")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--resume", action="store_true")
    parser.add_argument("--package", action="store_true", help=f"evaluate stage 2's model and copy it to {PRETRAINED}")
    parser.add_argument("--test-images", type=int, default=10_000)
    args = parser.parse_args(argv)
    if args.stage is None and not args.package:
        parser.error("give --stage 1, --stage 2 or --package")
    return args


def train(args: argparse.Namespace) -> Path:
    dataset = open_dataset("fashion-mnist", split="train", resolution=32, root=FASHION_ROOT)
    if args.stage == 1:
        model = genae.create("lia", **MODEL_CONFIG)
        options, images = STAGE1_OPTIONS, args.images or 80_000
    else:
        model = genae.load(args.out / "stage1" / "model")
        options, images = STAGE2_OPTIONS, args.images or 30_000
    recipe = LIARecipe(model, **options)
    trainer = Trainer(model, recipe, dataset, out_dir=args.out / f"stage{args.stage}", total_images=images,
                      seed=args.seed, log_every=25, grid_every=250, checkpoint_every=250, progress=False)
    result = trainer.fit(resume=args.resume)
    print(f"stage {args.stage}: {result.steps} steps, {result.images_seen} images, {result.wall_time_s:.0f} s "
          f"({result.images_seen / result.wall_time_s:.1f} img/s)", flush=True)
    return result.model_dir  # type: ignore[return-value]


def stack(dataset: Any) -> torch.Tensor:
    return torch.stack([dataset[i][0] for i in range(len(dataset))])


@torch.no_grad()
def mse(model: Any, images: torch.Tensor) -> float:
    return sum(float(((model.reconstruct(c) - c) ** 2).sum()) for c in images.split(500)) / images.numel()


@torch.no_grad()
def evaluate(args: argparse.Namespace) -> dict[str, Any]:
    model = genae.load(args.out / "stage2" / "model").eval()
    test = stack(open_dataset("fashion-mnist", split="test", resolution=32, root=FASHION_ROOT, limit=args.test_images))
    mini = stack(open_dataset("fashion-mnist-mini", split="test", resolution=32))
    train = stack(open_dataset("fashion-mnist", split="train", resolution=32, root=FASHION_ROOT, limit=10_000))
    grids = args.out / "eval"
    save_image_grid(torch.cat([mini[:16], model.reconstruct(mini[:16])]), grids / "reconstructions.png", nrow=16, scale=3)
    save_image_grid(model.sample(32, generator=torch.Generator().manual_seed(0)), grids / "samples.png", nrow=16, scale=3)
    for part in ("coarse", "fine"):
        grid = style_mixing_matrix(model, mini[16:22], mini[22:30], part).clamp(-1, 1)
        save_image_grid(grid, grids / f"mix-{part}-from-rows.png", nrow=9, scale=3)
    stages = {s: json.loads((args.out / f"stage{s}" / "model" / "config.json").read_text())["card"] for s in (1, 2)}
    return {
        "test_mse": round(mse(model, test), 5),
        "mean_image_test_mse": round(float(((test - train.mean(0)) ** 2).mean()), 5),
        "mini_test_mse": round(mse(model, mini), 5),
        "stage1": {k: stages[1][k] for k in ("images_seen", "steps", "wall_time_s", "recipe_options")},
        "stage2": {k: stages[2][k] for k in ("images_seen", "steps", "wall_time_s", "recipe_options")},
        "grids": str(grids),
    }


def package(args: argparse.Namespace, metrics: dict[str, Any], command: str) -> Path:
    model = genae.load(args.out / "stage2" / "model")
    s1, s2 = metrics["stage1"], metrics["stage2"]
    card = dict(model.card)
    card.update({
        "name": PRETRAINED.name,
        "load_name": PRETRAINED.name,
        "description": (
            "LIA (latently invertible autoencoder, Zhu et al. 2022) trained on Fashion-MNIST at 32×32 (1 channel, "
            "64-d latent) on a shared 2-core CPU: stage 1 trained the flow + StyleGAN-1 generator as a GAN, "
            "stage 2 the encoder to w with the generator frozen. " + DEVIATIONS
        ),
        "data_preparation": "Fashion-MNIST train split (60,000 images), 28×28 zero-padded to 32×32, in [-1, 1]",
        "source": (
            f"trained by `{STAGE_COMMAND.format(out=args.out, stage=1)}`, then `{STAGE_COMMAND.format(out=args.out, stage=2)}`, "
            f"packaged by `{command}` at git commit {git_commit()} ({platform.machine()})"
        ),
        # The whole model's budget (the Trainer recorded stage 2's run alone).
        "images_seen": s1["images_seen"] + s2["images_seen"],
        "steps": s1["steps"] + s2["steps"],
        "wall_time_s": round(s1["wall_time_s"] + s2["wall_time_s"], 3),
        "training": (
            f"stage 1 (GAN, recipe options {s1['recipe_options']}): {s1['images_seen']:,} images ({s1['steps']} "
            f"steps) in {s1['wall_time_s']:.0f} s; stage 2 (encoder, options {s2['recipe_options']}): "
            f"{s2['images_seen']:,} images ({s2['steps']} steps) in {s2['wall_time_s']:.0f} s; 1 torch thread, "
            "fp32, on a 2-core CPU shared with other jobs"
        ),
        "metrics": {
            "test MSE (Fashion-MNIST test split, [-1, 1])": metrics["test_mse"],
            "mean-image predictor's test MSE": metrics["mean_image_test_mse"],
            "test MSE (fashion-mnist-mini test, 200 images)": metrics["mini_test_mse"],
        },
        "limitations": (
            "Minutes of CPU training: samples are rough GAN samples and reconstructions keep class and silhouette "
            "more than detail. Benchmarks in benchmarks/results/lia*.md."
        ),
    })
    return model.save_pretrained(PRETRAINED, card=card)  # atomic: an earlier folder stays until this one is whole


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    torch.set_num_threads(args.threads)
    command = "OMP_NUM_THREADS={} python benchmarks/lia/train_fashion_mnist.py {}".format(
        os.environ.get("OMP_NUM_THREADS", args.threads), " ".join(sys.argv[1:] if argv is None else argv))
    if args.stage is not None:
        train(args)
    if args.package:
        metrics = evaluate(args)
        print(json.dumps(metrics), flush=True)
        RESULTS.parent.mkdir(parents=True, exist_ok=True)
        write_text_atomic(RESULTS.with_suffix(".json"), json.dumps({"command": command, "git_commit": git_commit(),
                                                                     "config": MODEL_CONFIG, **metrics}, indent=2) + "\n")
        print(f"packaged {package(args, metrics, command)}", flush=True)


if __name__ == "__main__":
    main()
