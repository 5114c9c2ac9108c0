"""Sample quality with each model's own prior and with a Gaussian mixture fitted to its codes (``genae.fit_prior``).

For every model: ``genae bench`` FID and KID of its prior samples against the Fashion-MNIST test split, then the
same after fitting a ``--components`` mixture to its codes of the train split, with the same seed, N and feature
network. Sample grids of both go to ``--grids``. Writes OUT.json and OUT.md.

    python benchmarks/fitted_prior/run.py automodulator-fashion-mnist-32 vae-adain-fashion-mnist-32 \
        --n 10000 --out benchmarks/results/fitted-prior-fashion-mnist --grids docs
"""

from __future__ import annotations

import argparse
import json
import platform
import tempfile
import time
from pathlib import Path
from typing import Any

import torch

import genae
from genae.bench.provenance import git_commit
from genae.bench.runner import run_bench
from genae.fitted_prior import GaussianMixturePrior
from genae.io import write_text_atomic
from genae.viz import save_image_grid


def bench(folder: str, n: int, seed: int, metrics: str = "fid,kid") -> dict[str, Any]:
    record = run_bench([folder], data="fashion-mnist", metrics=metrics, n=n, seed=seed, progress=False)[0]
    if record["status"] != "ok":
        raise RuntimeError(f"{folder}: bench failed: {record['error']}")
    figures = {f["metric"]: f for f in record["figures"]}
    values = {name: round(figures[name]["value"], 4 if name == "kid" else 2) for name in metrics.split(",")}
    return {**values, "label": figures["fid"]["label"], "n": figures["fid"]["n"]}


def grid(model: Any, path: Path, seed: int) -> str:
    with torch.no_grad():
        images = model.sample(64, generator=torch.Generator().manual_seed(seed)).clamp(-1, 1)
    return str(save_image_grid(images, path, nrow=8, scale=2))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("models", nargs="+", help="registered names or model folders")
    parser.add_argument("--components", type=int, default=10)
    parser.add_argument("--n", type=int, default=10_000, help="generated and real images per FID")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, required=True, help="writes OUT.json and OUT.md")
    parser.add_argument("--grids", type=Path, default=None, help="folder for sample grids (PNG)")
    parser.add_argument("--labels", default=None, help="comma-separated row names for the models (default: "
                                                        "their names or folder names)")
    args = parser.parse_args(argv)
    labels = args.labels.split(",") if args.labels else [Path(name).name for name in args.models]
    if len(labels) != len(args.models):
        parser.error(f"--labels: expected {len(args.models)} names, got {len(labels)}")
    command = "python benchmarks/fitted_prior/run.py " + " ".join(
        args.models + ["--components", str(args.components), "--n", str(args.n), "--seed", str(args.seed),
                       "--out", str(args.out)] + (["--grids", str(args.grids)] if args.grids else [])
        + (["--labels", args.labels] if args.labels else []))
    provenance = {"command": command, "commit": git_commit(),
                  "machine": f"{platform.machine()}, {torch.get_num_threads()} torch threads, shared 2-core CPU"}
    rows = []
    with tempfile.TemporaryDirectory() as work:
        for name, label in zip(args.models, labels):
            rows += measure(name, label, Path(work), args)
    for row in rows:
        row.update(provenance)
    write_results(args.out, rows, args.seed)


def measure(name: str, label: str, work: Path, args: argparse.Namespace) -> list[dict[str, Any]]:
    """The two rows of one model: its own prior (with rFID), then a mixture fitted to its codes."""
    model = genae.load(name)
    if isinstance(model.prior, GaussianMixturePrior):  # a model that ships with a fitted prior
        model.prior = model.prior.base
    slug = label.replace(" ", "_").replace("/", "_")
    own_folder = str(model.save_pretrained(work / f"{slug}-own"))
    own = {"model": label, "prior": type(model.prior).__name__, **bench(own_folder, args.n, args.seed, "fid,kid,rfid")}
    start = time.perf_counter()
    genae.fit_prior(model, "fashion-mnist", components=args.components, seed=args.seed, progress=False)
    fit_s = time.perf_counter() - start
    folder = model.save_pretrained(work / f"{slug}-fitted")
    fitted = {"model": label, "prior": f"fitted {args.components}-component mixture", "fit_s": round(fit_s, 1),
              "em_iterations": model.prior.fitted_on["iterations"], **bench(str(folder), args.n, args.seed)}
    if args.grids:
        fitted["grid"] = grid(model, args.grids / f"samples-{slug}-fitted.png", args.seed)
        model.prior = model.prior.base
        own["grid"] = grid(model, args.grids / f"samples-{slug}-own.png", args.seed)
    for row in (own, fitted):
        print(json.dumps(row), flush=True)
    return [own, fitted]


def write_results(out: Path, rows: list[dict[str, Any]], seed: int) -> None:
    """OUT.json and OUT.md; rows of models measured earlier (another command) are kept, re-measured ones replaced."""
    path = out.with_suffix(".json")
    measured = {row["model"] for row in rows}
    earlier = json.loads(path.read_text())["rows"] if path.is_file() else []
    rows = [row for row in earlier if row["model"] not in measured] + rows
    write_text_atomic(path, json.dumps({"rows": rows}, indent=2) + "\n")
    lines = ["# Sample quality: each model's own prior vs a Gaussian mixture fitted to its codes", "",
             "| model | prior | sample FID | sample KID | rFID (reconstructions) | N | fit (s) |",
             "|---|---|---:|---:|---:|---:|---:|"]
    lines += [f"| {r['model']} | {r['prior']} | {r['fid']} | {r['kid']} | {r.get('rfid', '')} | {r['n']} | "
              f"{r.get('fit_s', '')} |" for r in rows]
    lines += ["", f"FID, KID and rFID are `{rows[0]['label']}` against the Fashion-MNIST test split, seed {seed}. "
              "rFID compares the reconstructions of those test images with them. The mixture is fitted to the "
              "encoder's codes of the 60,000 training images (`genae.fit_prior`); the test images were never "
              "encoded for the fit.", "", "Commands, commits and machines:", ""]
    for provenance in dict.fromkeys((r["command"], r["commit"], r["machine"]) for r in rows):
        models = ", ".join(dict.fromkeys(r["model"] for r in rows if (r["command"], r["commit"], r["machine"]) == provenance))
        lines.append(f"- {models}: `{provenance[0]}` at commit {provenance[1]}; {provenance[2]}")
    write_text_atomic(out.with_suffix(".md"), "\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
