"""Train the bundled IAE-family models (and the AAE comparison runs) on Fashion-MNIST 32×32 and package them.

This is the exact script that produced ``genae_plugins/iae/pretrained/*``; each card records its command line
and git commit.

    GENAE_DATA=/path/with/fashion-mnist OMP_NUM_THREADS=1 nice -n 5 \
        python benchmarks/iae/train_all.py --out runs/iae --package

Widths are the paper's MNIST networks (Table 1) shrunk for a shared 2-core CPU (:data:`WIDTHS`): encoder FC
256-256 instead of 2000-2000, decoder FC 256 then 32×8×8 instead of 1024 then 128×7×7, up-convolutions 16 then
1 channel; reconstruction discriminator convs 32-64 and FC 256 instead of 64-128 and 1024; regularisation
discriminator 2 × 256 instead of 2 × 2000. Each run of a pair compared in the results (IAE vs AAE) has the
same budget (images, batch size, widths, seed). Runs train one after another in this process.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import sys
from pathlib import Path
from typing import Any

import torch
from torch.utils.data import Subset

import genae
from genae.bench.provenance import git_commit
from genae.data import open_dataset
from genae.metrics.clustering import cluster_error, semisupervised_error
from genae.registry import REGISTRY, import_object
from genae.training.trainer import Trainer
from genae.viz import save_image_grid

REPO = Path(__file__).resolve().parents[2]
PRETRAINED = REPO / "genae_plugins" / "iae" / "pretrained"
WIDTHS: dict[str, Any] = {
    "resolution": 32, "channels_in": 1, "encoder_widths": [256, 256], "decoder_hidden": 256,
    "decoder_channels": [32, 16], "disc_channels": [32, 64], "disc_hidden": 256, "condition_hidden": 256,
    "code_disc_widths": [256, 256],
}
CLUSTER_PAPER = {"code": "categorical", "latent_dim": 30, "decoder_noise": 10, "conditioning": "location-invariant"}
# Two additions that keep all 30 categories in use (see MLPEncoder and CodeDiscriminator in genae_plugins/iae/nets.py).
CLUSTER = {**CLUSTER_PAPER, "logit_batch_norm": True, "code_disc_batch_mean": True}
SEMISUP_PAPER = {"code": "categorical", "latent_dim": 10, "decoder_noise": 10, "conditioning": "location-invariant"}
SEMISUP = {**SEMISUP_PAPER, "logit_batch_norm": True, "code_disc_batch_mean": True}
LABELS = {"labels": 100, "label_seed": 0, "label_data": "fashion-mnist"}
EUCLIDEAN = {"reconstruction": "euclidean"}
DOMAIN_B = {"data": "fashion-mnist", "split": "train", "start": 30_000, "stop": 40_000, "transform": "edges"}

#: run -> (architecture, config overrides, recipe options, bundled name or None, one-line description)
RUNS: dict[str, tuple[str, dict[str, Any], dict[str, Any], str | None, str]] = {
    "iae": ("iae", {**WIDTHS, "latent_dim": 20}, {}, "iae-fashion-mnist-32",
            "IAE, reconstruction case (deterministic decoder, 20-d Gaussian code, regularisation GAN)"),
    "aae": ("iae", {**WIDTHS, "latent_dim": 20, **EUCLIDEAN}, {}, None,
            "AAE case of the same model (squared-error reconstruction, regularisation GAN)"),
    "iae-noise": ("iae", {**WIDTHS, "latent_dim": 5, "decoder_noise": 64}, {}, None,
                  "IAE, stochastic decoder: 5-d code + 64-d decoder noise (what reconstructions keep)"),
    "cluster": ("iae", {**WIDTHS, **CLUSTER}, {}, "iae-cluster-fashion-mnist-32",
                "clustering IAE (30 categories + 10-d Gaussian decoder noise; batch-normalised logits and a "
                "batch-mean code discriminator)"),
    "cluster-paper": ("iae", {**WIDTHS, **CLUSTER_PAPER}, {}, None,
                      "clustering IAE exactly as in the paper (no logit batch norm, per-code discriminator)"),
    "aae-cluster": ("iae", {**WIDTHS, **CLUSTER, **EUCLIDEAN}, {}, None,
                    "AAE case of the clustering model (squared-error reconstruction)"),
    "semisup": ("iae", {**WIDTHS, **SEMISUP}, LABELS, "iae-semisup-fashion-mnist-32",
                "semi-supervised IAE (10 categories + 10-d decoder noise, 100 labels; batch-normalised logits "
                "and a batch-mean code discriminator)"),
    "semisup-paper": ("iae", {**WIDTHS, **SEMISUP_PAPER}, LABELS, None,
                      "semi-supervised IAE exactly as in the paper (no logit batch norm, per-code discriminator)"),
    "aae-semisup": ("iae", {**WIDTHS, **SEMISUP, **EUCLIDEAN}, LABELS, None,
                    "AAE case of the semi-supervised model (squared-error reconstruction, 100 labels)"),
    "flipped": ("flipped-iae", {**WIDTHS, "latent_dim": 15}, {}, "flipped-iae-fashion-mnist-32",
                "flipped IAE, deterministic generator and recognition nets, 15-d code"),
    "cycle": ("cycle-iae", {"resolution": 32, "channels_in": 1, "width": 16, "res_blocks": 2, "decoder_noise": 16,
                            "bank_size": 64}, {"domain_b": DOMAIN_B}, "cycle-iae-fashion-edges-32",
              "CycleIAE: garments (train 0-29,999) autoencoded through codes that must look like edge maps "
              "(edges of train 30,000-39,999, never paired)"),
}


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", required=True, type=Path, help="run folder (one sub-folder per run)")
    parser.add_argument("--runs", default=",".join(RUNS), help="comma-separated subset of " + ",".join(RUNS))
    parser.add_argument("--images", type=int, default=64_000, help="training images per run (cycle: an eighth)")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--resume", action="store_true", help="continue each run in --out")
    parser.add_argument("--package", action="store_true", help=f"copy bundled runs under {PRETRAINED}")
    parser.add_argument("--package-only", action="store_true",
                        help="skip training: evaluate and package the finished runs in --out (their cards keep "
                             "the command that trained them)")
    args = parser.parse_args(argv)
    unknown = sorted(set(args.runs.split(",")) - set(RUNS))
    if unknown:
        parser.error(f"--runs: unknown {unknown}; choose from {', '.join(RUNS)}")
    return args


def budget(run: str, args: argparse.Namespace) -> tuple[int, int]:
    """(images, batch size): a CycleIAE step on half a batch costs ~4× an IAE step (ResNet translators at
    full resolution), so it sees an eighth of the images in batches of half the size: a quarter of the steps."""
    if run == "cycle":
        return args.images // 8, args.batch_size // 2
    return args.images, args.batch_size


def train(run: str, args: argparse.Namespace) -> Path:
    architecture, config, options, _, _ = RUNS[run]
    images, batch_size = budget(run, args)
    torch.manual_seed(args.seed)
    model = genae.create(architecture, **config)
    recipe = import_object(REGISTRY.model_spec(architecture).recipe)(model, batch_size=batch_size, **options)
    dataset = open_dataset("fashion-mnist", split="train", resolution=32)
    if run == "cycle":  # domain A: the first half of the training split; domain B's edges come from the rest
        dataset = Subset(dataset, range(DOMAIN_B["start"]))
        dataset.description = "Fashion-MNIST train images 0-29,999 (domain A), padded to 32×32"  # type: ignore[attr-defined]
    trainer = Trainer(model, recipe, dataset, out_dir=args.out / run, total_images=images, seed=args.seed,
                      log_every=50, grid_every=250, checkpoint_every=250, progress=False)
    result = trainer.fit(resume=args.resume)
    print(f"{run}: {result.steps} steps, {result.images_seen} images, {result.wall_time_s:.0f} s, "
          f"last losses {json.dumps({k: round(v, 3) for k, v in result.losses.items()})}", flush=True)
    return result.model_dir  # type: ignore[return-value]


@torch.no_grad()
def grids(run: str, model: Any, test: torch.Tensor, folder: Path) -> dict[str, str]:
    """Reconstructions (deterministic, then 4 noise draws), samples, and per-model extras, as PNG."""
    folder.mkdir(parents=True, exist_ok=True)
    g = torch.Generator().manual_seed(0)
    x = test[:12]
    rows = [x, model.reconstruct(x)] + [model.stochastic_reconstruct(x, generator=g) for _ in range(4)]
    if run == "cycle":
        rows.insert(1, model.translate(x))
    written = {"reconstructions": save_image_grid(torch.cat(rows), folder / "reconstructions.png", nrow=12, scale=3)}
    written["samples"] = save_image_grid(model.sample(48, generator=g), folder / "samples.png", nrow=12, scale=3)
    k = getattr(model, "num_categories", None)
    if k:  # one column per category, one row per decoder-noise draw held fixed across the row
        codes = torch.eye(k).repeat(6, 1)
        noise = model.decoder_noise(6, generator=g).repeat_interleave(k, 0)
        written["categories"] = save_image_grid(model.decode(codes, noise=noise), folder / "categories.png",
                                                nrow=k, scale=3)
    return {name: str(path) for name, path in written.items()}


@torch.no_grad()
def evaluate(run: str, model_dir: Path, test: torch.Tensor, labels: torch.Tensor, folder: Path) -> dict[str, Any]:
    model = genae.load(model_dir).eval()
    mse = sum(float((model.reconstruct(c) - c).pow(2).sum()) for c in test.split(500)) / test.numel()
    card = model.card
    classes = {}
    if getattr(model, "num_categories", None):  # categorical code: its clusters, and its classes if labelled
        classes["cluster_error"] = cluster_error(model, test, labels)
        if "labelled_subset" in card:
            classes["semisup_error"] = semisupervised_error(model, test, labels, data="fashion-mnist")
    return {**classes,
        "description": RUNS[run][4], "architecture": model.architecture, "case": getattr(model.config, "case", None),
        "parameters": sum(p.numel() for p in model.parameters()), "images_seen": card.get("images_seen"),
        "steps": card.get("steps"), "train_wall_time_s": card.get("wall_time_s"),
        "test_mse": round(mse, 5), "grids": grids(run, model, test, folder), "model_dir": str(model_dir),
    }


LIMITATIONS = (
    "Trained for a few CPU minutes ({images:,} images) with networks about 8× narrower than the paper's "
    "(see the config): a demonstration of the method at a budget every user can reproduce, not the paper's "
    "quality. Deviations from the paper: Fashion-MNIST 32×32 instead of MNIST 28×28 (decoder from an 8×8 map, "
    "tanh output), narrower nets, leaky-ReLU discriminators without batch norm, Adam lr 2e-4 for every net. "
    "Clustering, semi-supervised and FID figures against k-means on pixels, the AAE case and the baselines: "
    "benchmarks/results/iae.md."
)

COLLAPSE_FIXES = (
    " Also not in the paper: batch-normalised categorical logits and a code discriminator that sees the batch's "
    "mean code (config logit_batch_norm, code_disc_batch_mean); without them the clustering IAE used 4 of its 30 "
    "categories (benchmarks/results/iae-cluster-ablation.md)."
)


def card_metrics(metrics: dict[str, Any]) -> dict[str, float]:
    """The card's figures, each named with its test set and method."""
    split = "Fashion-MNIST test split, 10,000 images"
    out = {f"test MSE ({split}, deterministic reconstruction)": metrics["test_mse"]}
    if "cluster_error" in metrics:
        c = metrics["cluster_error"]
        out[f"cluster error ({split}, K = {c['K']}, {c['clusters_used']} used, majority label)"] = c["value"]
    if "semisup_error" in metrics:
        out[f"classification error ({split}, its own prediction, {LABELS['labels']} labels)"] = \
            metrics["semisup_error"]["value"]
    return out


def package(run: str, model_dir: Path, metrics: dict[str, Any], command: str, commit: str) -> Path:
    model = genae.load(model_dir)
    target = PRETRAINED / str(RUNS[run][3])
    card = dict(model.card)
    card.update({
        "name": target.name, "load_name": target.name,
        "description": f"{RUNS[run][4]}, trained on Fashion-MNIST 32×32 on a shared 2-core CPU.",
        "data_preparation": "Fashion-MNIST train split, 28×28 padded to 32×32, in [-1, 1]",
        "source": f"trained by `{command}` at git commit {commit} ({platform.machine()})",
        "metrics": card_metrics(metrics),
        "limitations": LIMITATIONS.format(images=metrics["images_seen"]) + (
            COLLAPSE_FIXES if getattr(model.config, "logit_batch_norm", False) else ""),
    })
    staging = target.with_name(target.name + ".tmp")
    shutil.rmtree(staging, ignore_errors=True)
    model.save_pretrained(staging, card=card)
    shutil.rmtree(target, ignore_errors=True)
    staging.rename(target)
    return target


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    torch.set_num_threads(args.threads)
    command = "OMP_NUM_THREADS={} python benchmarks/iae/train_all.py {}".format(
        os.environ.get("OMP_NUM_THREADS", args.threads), " ".join(sys.argv[1:] if argv is None else argv))
    test_set = open_dataset("fashion-mnist", split="test", resolution=32)
    test = torch.stack([test_set[i][0] for i in range(len(test_set))])
    labels = torch.as_tensor(test_set.labels)
    for run in args.runs.split(","):
        provenance = args.out / run / "trained-by.json"
        if args.package_only:
            model_dir, trained_by = args.out / run / "model", json.loads(provenance.read_text())
        else:
            trained_by = {"command": command, "git_commit": (git_commit() or "unknown")}
            model_dir = train(run, args)
            provenance.write_text(json.dumps(trained_by) + "\n")
        metrics = evaluate(run, model_dir, test, labels, args.out / run / "eval")
        (args.out / run / "eval" / "metrics.json").write_text(json.dumps(metrics, indent=2) + "\n")
        print(f"{run}: {json.dumps(metrics)}", flush=True)
        if (args.package or args.package_only) and RUNS[run][3]:
            target = package(run, model_dir, metrics, trained_by["command"], trained_by["git_commit"])
            print(f"packaged {target}", flush=True)


if __name__ == "__main__":
    main()
