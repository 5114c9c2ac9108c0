"""Sample FID of an automodulator run against the images it had seen: live and EMA decoder weights per snapshot.

Issue 22 asks whether a longer run and the EMA export sample better. A run keeps only its latest checkpoint,
so the snapshots are copies of ``checkpoint.pt`` taken while it trained (any ``.pt`` files written by the
Trainer will do). Each snapshot becomes two model folders, its live weights and its decoder EMA, and both
go through ``genae bench`` with the same seed, N and feature network, so the figures are comparable with
each other (not with figures at another N: FID is biased upwards at small N).

    python benchmarks/automodulator/fid_curve.py runs/snap/*.pt --n 2048 --out benchmarks/results/automodulator-fid-curve
"""

from __future__ import annotations

import argparse
import json
import platform
import tempfile
from pathlib import Path
from typing import Any

import torch

import genae
from genae.bench.provenance import git_commit
from genae.bench.runner import run_bench
from genae.io import write_text_atomic


def model_folders(checkpoint: Path, work: Path) -> dict[str, Path]:
    """``{"live": folder, "ema": folder}`` for one Trainer checkpoint of an automodulator run."""
    state = torch.load(checkpoint, map_location="cpu", weights_only=True)
    if state.get("architecture") != "automodulator":
        raise ValueError(f"{checkpoint}: expected an automodulator training checkpoint, got {state.get('architecture')!r}")
    model = genae.create("automodulator", **state["model_config"])
    model.load_state_dict(state["model"])
    folders = {"live": model.save_pretrained(work / f"{checkpoint.stem}-live")}
    for name, shadow in state["ema"]["shadow"].items():
        model.get_submodule(name).load_state_dict(shadow)
    folders["ema"] = model.save_pretrained(work / f"{checkpoint.stem}-ema")
    return folders


def fid_of(folder: Path, n: int, seed: int) -> dict[str, Any]:
    record = run_bench([str(folder)], data="fashion-mnist", metrics="fid", n=n, seed=seed, progress=False)[0]
    if record["status"] != "ok":
        raise RuntimeError(f"{folder}: bench failed: {record['error']}")
    (fid,) = [f for f in record["figures"] if f["metric"] == "fid"]
    return {"fid": round(fid["value"], 2), "label": fid["label"], "n": fid["n"]}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("checkpoints", nargs="+", type=Path)
    parser.add_argument("--n", type=int, default=2048, help="generated and real images per FID")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, required=True, help="writes OUT.json and OUT.md")
    args = parser.parse_args(argv)
    rows = []
    with tempfile.TemporaryDirectory() as work:
        for checkpoint in args.checkpoints:
            images = torch.load(checkpoint, map_location="cpu", weights_only=True)["images_seen"]
            for weights, folder in model_folders(checkpoint, Path(work)).items():
                row = {"checkpoint": checkpoint.name, "images_seen": images, "weights": weights,
                       **fid_of(folder, args.n, args.seed)}
                print(json.dumps(row), flush=True)
                rows.append(row)
    rows.sort(key=lambda r: (r["images_seen"], r["weights"]))
    command = "python benchmarks/automodulator/fid_curve.py " + " ".join(
        [str(c) for c in args.checkpoints] + ["--n", str(args.n), "--seed", str(args.seed), "--out", str(args.out)])
    meta = {"command": command, "commit": git_commit(), "machine": f"{platform.machine()}, {torch.get_num_threads()} "
            "torch threads, shared 2-core CPU", "rows": rows}
    write_text_atomic(args.out.with_suffix(".json"), json.dumps(meta, indent=2) + "\n")
    lines = ["# Automodulator on Fashion-MNIST: sample FID against training images seen", "",
             f"Command: `{command}`  ", f"Commit: {meta['commit']}  ", f"Machine: {meta['machine']}", "",
             "| images seen | weights | FID | N |", "|---:|---|---:|---:|"]
    lines += [f"| {r['images_seen']:,} | {r['weights']} | {r['fid']} | {r['n']} |" for r in rows]
    label = rows[0]["label"] if rows else "FID"
    lines += ["", f"FID is `{label}` (the shipped Fashion-MNIST feature network), seed {args.seed}; figures at "
              "different N are not comparable."]
    write_text_atomic(args.out.with_suffix(".md"), "\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
