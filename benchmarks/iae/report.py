"""Clustering, semi-supervised and sample/reconstruction figures of the IAE runs against references.

    GENAE_DATA=/path/with/fashion-mnist OMP_NUM_THREADS=1 nice -n 5 python benchmarks/iae/report.py --runs runs/iae

1. ``genae bench`` (its Python entry point ``run_bench``) on every run of ``benchmarks/iae/train_all.py``
   with fid, kid, mse, ssim, cluster-error and semisup-error, on the Fashion-MNIST test split with the N and
   seed of ``benchmarks/results/bench-fashion-mnist`` (10,000, seed 0), and cluster-error / semisup-error on
   the bundled VAE and WAE baselines (continuous codes: k-means and a probe);
2. the reference rows: k-means on raw pixels (K = 10 and 30) and the same logistic-regression probe on raw
   pixels, fitted on the same 100 labels;
3. for every run with decoder noise (the CycleIAE on 2,000 images), how much the noise changes a
   reconstruction against how far the reconstruction is from its input;
4. the baselines' FID/MSE rows copied from ``benchmarks/results/bench-fashion-mnist.json``.

Writes ``benchmarks/results/iae.{md,json}``.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

import genae
from genae.bench.provenance import git_commit, machine
from genae.bench.runner import run_bench
from genae.data import open_dataset
from genae.io import write_text_atomic
from genae.metrics.clustering import labelled_subset, pixel_cluster_error, pixel_probe_error

REPO = Path(__file__).resolve().parents[2]
RESULTS = REPO / "benchmarks" / "results" / "iae"
BASELINE_BENCH = REPO / "benchmarks" / "results" / "bench-fashion-mnist.json"
RUNS = ("iae", "aae", "iae-noise", "cluster", "cluster-paper", "aae-cluster", "semisup", "semisup-paper",
        "aae-semisup", "flipped")
BASELINES = ("vae-fashion-mnist-32", "wae-fashion-mnist-32")
IAE_METRICS = "fid,kid,mse,ssim,cluster-error,semisup-error"
N, SEED, LABELS, NOISE_DRAWS = 10_000, 0, 100, 8


def bench(models: list[str], metrics: str, n: int, out: Path | None) -> list[dict[str, Any]]:
    """``run_bench`` records of ``models``, reused from ``out/results.json`` when a finished run left them there."""
    previous = out / "results.json" if out is not None else None
    if previous is not None and previous.is_file():
        saved = json.loads(previous.read_text())
        records = {r["model"]: r for r in saved["models"]}
        if saved["meta"]["n"] == n and all(records.get(m, {}).get("status") == "ok" for m in models):
            return [records[m] for m in models]
    return run_bench(models, metrics=metrics, n=n, seed=SEED, out=out, progress=False)


def figures(record: dict[str, Any]) -> dict[str, Any]:
    return {f["name"]: f for f in record["figures"] if f["status"] == "ok"}


def row(name: str, record: dict[str, Any]) -> dict[str, Any]:
    found = figures(record)

    def value(key: str) -> float | None:
        return found[key]["value"] if key in found else None

    cluster = found.get("cluster_error", {}).get("settings", {})
    semisup = found.get("semisup_error", {}).get("settings", {})
    return {"model": name, "fid": value("fid"), "kid": value("kid"), "mse": value("mse"), "ssim": value("ssim"),
            "cluster_error": value("cluster_error"), "cluster_K": cluster.get("K"),
            "clusters_used": cluster.get("clusters_used"),
            "cluster_method": cluster.get("method"), "semisup_error": value("semisup_error"),
            "semisup_method": semisup.get("method"), "status": record["status"], "error": record.get("error"),
            "not_computed": {f["name"]: f["reason"] for f in record["figures"] if f["status"] != "ok"}}


def bench_test_images(n: int) -> tuple[Tensor, Tensor]:
    """The bench's choice of ``n`` test images (and their labels)."""
    test = open_dataset("fashion-mnist", split="test", resolution=32, channels=1)
    generator = torch.Generator().manual_seed(SEED)
    indices = torch.randperm(len(test), generator=generator)[:n].sort().values
    return torch.stack([test[int(i)][0] for i in indices]), torch.as_tensor(test.labels[indices.numpy()])


def references(n: int) -> dict[str, Any]:
    images, labels = bench_test_images(n)
    labelled = labelled_subset("fashion-mnist", LABELS, SEED, 32, 1)
    return {
        "kmeans_pixels_K10": pixel_cluster_error(images, labels, 10, SEED),
        "kmeans_pixels_K30": pixel_cluster_error(images, labels, 30, SEED),
        "probe_pixels_100_labels": pixel_probe_error(images, labels, labelled["images"], labelled["labels"]),
    }


@torch.no_grad()
def code_figures(model_dir: Path, images: Tensor, draws: int = NOISE_DRAWS) -> dict[str, Any]:
    """What a run's codes and decoder noise do, from one load and one encoding of ``images``.

    ``noise`` (models with decoder noise): ``spread``, the per-pixel standard deviation over ``draws``
    decoder-noise draws for the same deterministic code, and ``error``, the mean absolute error of the
    deterministic reconstruction, both averaged. ``confidence`` (categorical codes): the median top
    probability (1.0: one-hot like the prior). ``greys`` (CycleIAE): the fraction of code pixels strictly
    between -0.9 and 0.9, where real edge maps are exactly ±1, i.e. room for the encoder to hide grey levels
    that the decoder reads back instead of using its noise.
    """
    model = genae.load(model_dir).eval()
    generator = torch.Generator().manual_seed(SEED)
    codes, spreads, errors = [], [], []
    for chunk in images.split(500):
        code = model.encode(chunk)
        codes.append(code)
        if model.config.decoder_noise:
            draws_of = torch.stack([model.decode(code, noise=model.decoder_noise(len(chunk), generator))
                                    for _ in range(draws)])
            spreads.append(draws_of.std(0).mean(dim=(1, 2, 3)))
            errors.append((model.decode(code) - chunk).abs().mean(dim=(1, 2, 3)))
    all_codes = torch.cat(codes)
    figures: dict[str, Any] = {}
    if spreads:
        figures["noise"] = {"spread": float(torch.cat(spreads).mean()), "error": float(torch.cat(errors).mean()),
                            "draws": draws}
    if getattr(model, "num_categories", None):
        figures["confidence"] = float(all_codes.max(dim=1).values.median())
    if model.architecture == "cycle-iae":
        figures["greys"] = float((all_codes.abs() < 0.9).float().mean())
    return figures


def fmt(value: float | None, digits: int = 3) -> str:
    return "" if value is None else f"{value:.{digits}f}"


def seed_table(folders: list[Path]) -> dict[str, list[dict[str, Any]]]:
    """Per categorical run, its test-split errors in each folder (one folder per training seed)."""
    table: dict[str, list[dict[str, Any]]] = {}
    for folder in folders:
        for metrics_file in sorted(folder.glob("*/eval/metrics.json")):
            metrics = json.loads(metrics_file.read_text())
            if "cluster_error" not in metrics:
                continue
            run = metrics_file.parts[-3]
            trained_by = json.loads((folder / run / "trained-by.json").read_text())
            table.setdefault(run, []).append({
                "folder": str(folder), "command": trained_by["command"],
                "cluster_error": metrics["cluster_error"]["value"],
                "semisup_error": metrics.get("semisup_error", {}).get("value"),
            })
    return table


def markdown(payload: dict[str, Any]) -> str:
    refs = payload["references"]
    lines = [
        "# IAE family on Fashion-MNIST 32×32",
        "",
        f"Produced by `{payload['command']}` at git commit {payload['git_commit']} on {payload['machine']['cpu']} "
        f"({payload['machine']['cores']} cores, load average {payload['machine']['load_average_1_5_15'][0]:.1f} at the start, "
        f"{payload['machine']['torch_threads']} torch threads). Bench: Fashion-MNIST test split, N = {payload['n']}, "
        f"seed {SEED} "
        "(the N and seed of `bench-fashion-mnist`), FID/KID with the fashion-mnist-features extractor. Models: the "
        "runs of `benchmarks/iae/train_all.py` (see its docstring for widths and budget; every IAE/AAE pair had "
        "the same images, batch, widths and seed).",
        "",
        "## Clustering and semi-supervised error",
        "",
        "Cluster error: each cluster takes its majority label (categorical codes cluster by argmax; continuous "
        "codes by k-means with the K shown). Semi-supervised error: 100 class-balanced labels of the training "
        "split (seed 0); models trained with them use their own prediction, others a logistic-regression probe "
        "on their codes fitted on the same 100 images.",
        "",
        "| model | cluster error | K | clusters used | median top probability | semi-sup. error (100 labels) | how |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in payload["rows"]:
        if r["cluster_error"] is None and r["semisup_error"] is None:
            continue
        how = "own prediction" if r["semisup_method"] and "own" in r["semisup_method"] else "probe on codes"
        lines.append(f"| {r['model']} | {fmt(r['cluster_error'])} | {r['cluster_K']} | {r.get('clusters_used', '')} | "
                     f"{fmt(payload['confidence'].get(r['model']))} | {fmt(r['semisup_error'])} | {how} |")
    lines += [
        f"| k-means on raw pixels | {fmt(refs['kmeans_pixels_K10']['value'])} | 10 | | | "
        f"{fmt(refs['probe_pixels_100_labels'])} | probe on pixels |",
        f"| k-means on raw pixels | {fmt(refs['kmeans_pixels_K30']['value'])} | 30 | | | | |",
        "",
        "## What the decoder noise changes",
        "",
        "For each test image, the per-pixel standard deviation of the decoder's output over "
        f"{NOISE_DRAWS} noise draws (same deterministic code), against the mean absolute error of the "
        "deterministic reconstruction; both averaged over the test images, pixels in [-1, 1].",
        "",
        "| model | spread over noise draws | reconstruction error (noise = 0) |",
        "|---|---|---|",
        *(f"| {name} | {fmt(v['spread'])} | {fmt(v['error'])} |" for name, v in payload["noise_use"].items()),
        "",
        f"CycleIAE codes: {fmt(payload['cycle_code_greys'])} of their pixels lie strictly between -0.9 and 0.9 "
        "(real edge maps are exactly ±1).",
        "",
        "## Across training seeds",
        "",
        "Test-split errors of the categorical runs (all 10,000 test images), one column per training run folder "
        "(`train_all.py --seed`; commands in the JSON).",
        "",
        "| run | cluster error per seed | class error (own prediction) per seed |",
        "|---|---|---|",
        *(f"| {run} | {', '.join(fmt(e['cluster_error']) for e in entries)} | "
          f"{', '.join(fmt(e['semisup_error']) for e in entries if e['semisup_error'] is not None)} |"
          for run, entries in payload["seeds"].items()),
        "",
        "## Samples and reconstructions against the baselines",
        "",
        "| model | FID[fashion-mnist-features] | KID | MSE | SSIM |",
        "|---|---|---|---|---|",
    ]
    for r in payload["rows"] + payload["baseline_rows"]:
        if r["fid"] is None and r["mse"] is None:
            continue
        lines.append(f"| {r['model']} | {fmt(r['fid'], 1)} | {fmt(r['kid'])} | {fmt(r['mse'], 4)} | "
                     f"{fmt(r['ssim'], 3)} |")
    failed = [r for r in payload["rows"] if r["status"] != "ok"]
    if failed:
        lines += ["", "Failed: " + "; ".join(f"{r['model']}: {r['error']}" for r in failed)]
    missing = sorted({(name, reason) for r in payload["rows"] for name, reason in r["not_computed"].items()})
    lines += ["", *(f"Not computed ({name}, every model where it is blank): {reason}" for name, reason in missing)]
    lines += ["", "Baseline rows are copied from `benchmarks/results/bench-fashion-mnist.json` (same N, seed, "
              "extractor). Reconstruction metrics of models with decoder noise use the deterministic "
              "reconstruction (noise = 0).", ""]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=Path, required=True, help="the --out folder of train_all.py")
    parser.add_argument("--out", type=Path, default=Path("runs/iae-bench"))
    parser.add_argument("-n", type=int, default=N, help="test images (10,000: the N of bench-fashion-mnist)")
    parser.add_argument("--seed-runs", type=Path, nargs="*", default=[],
                        help="--out folders of train_all.py runs with other --seed values: their test-split "
                             "class and cluster errors (from eval/metrics.json) are tabulated per seed")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    command = "OMP_NUM_THREADS=1 python benchmarks/iae/report.py " + " ".join(sys.argv[1:] if argv is None else argv)
    started = time.time()
    present = [run for run in RUNS + ("cycle",) if (args.runs / run / "model" / "config.json").is_file()]
    test_images = bench_test_images(args.n)[0]
    codes = {run: code_figures(args.runs / run / "model", test_images[:2000] if run == "cycle" else test_images)
             for run in present}
    present = [run for run in present if run != "cycle"]
    folders = [str(args.runs / run / "model") for run in present]
    mine = bench(folders, IAE_METRICS, args.n, args.out / "iae")
    theirs = bench(list(BASELINES), "cluster-error,semisup-error", args.n, None)
    rows = [row(run, record) for run, record in zip(present, mine)]
    rows += [row(name, record) for name, record in zip(BASELINES, theirs)]
    baseline_rows = [row(r["model"], r) for r in json.loads(BASELINE_BENCH.read_text())["models"]]
    payload = {"command": command, "git_commit": (git_commit() or "unknown"), "machine": machine(), "n": args.n, "seed": SEED,
               "labels": LABELS, "rows": rows,
               "noise_use": {run: f["noise"] for run, f in codes.items() if "noise" in f},
               "confidence": {run: f["confidence"] for run, f in codes.items() if "confidence" in f},
               "cycle_code_greys": codes.get("cycle", {}).get("greys"),
               "seeds": seed_table([args.runs, *args.seed_runs]),
               "baseline_rows": baseline_rows, "references": references(args.n),
               "seconds": round(time.time() - started, 1)}
    write_text_atomic(RESULTS.with_suffix(".json"), json.dumps(payload, indent=2, default=str) + "\n")
    write_text_atomic(RESULTS.with_suffix(".md"), markdown(payload))
    print(markdown(payload))


if __name__ == "__main__":
    main()
