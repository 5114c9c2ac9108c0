"""LIA reconstructions against optimisation-based inversion of the same generator (paper 6.1 and 6.3).

For N Fashion-MNIST test images, reconstruction MSE (images in [-1, 1]) and wall time of:

- ``encoder``: LIA's encoder, one forward pass (``w = f(x)``);
- ``mean + k steps``: MSE-based GAN inversion, ``genae.invert`` from the mean ``w`` (Image2StyleGAN's start);
- ``encoder + k steps``: the same optimiser started from the encoder's ``w`` (``model.refine``, paper 6.3).

Both optimisers work in W+ (one ``w`` per layer) with the projector schedule of ``genae.invert`` and pixel
MSE as the loss, so "equal time" compares like with like. Writes ``benchmarks/results/lia-reconstruction``.

    OMP_NUM_THREADS=1 python benchmarks/lia/reconstruction.py
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path
from typing import Any

import torch

import genae
from genae.bench.provenance import git_commit
from genae.data import open_dataset
from genae.inversion import invert
from genae.io import write_text_atomic

REPO = Path(__file__).resolve().parents[2]
RESULTS = REPO / "benchmarks" / "results" / "lia-reconstruction"
FASHION_ROOT = "/usr/share/datasets/fashion-mnist"


def mse(a: torch.Tensor, b: torch.Tensor) -> float:
    return float(((a - b) ** 2).mean())


def run(model: Any, images: torch.Tensor, steps: list[int]) -> list[dict[str, Any]]:
    rows = []
    with torch.no_grad():
        started = time.perf_counter()
        recon = model.reconstruct(images)
        rows.append({"method": "encoder", "steps": 0, "seconds": time.perf_counter() - started,
                     "mse": mse(recon, images)})
    for k in steps:
        for init in ("mean", "encoder"):
            result = invert(model, images, "optimise", init=init, space="w+", steps=k, loss="mse",
                            generator=torch.Generator().manual_seed(0))
            rows.append({"method": f"{init} + steps", "steps": k, "seconds": result.seconds,
                         "mse": mse(result.reconstructions, images)})
            print(json.dumps(rows[-1]), flush=True)
    return rows


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="lia-fashion-mnist-32")
    parser.add_argument("--n", type=int, default=200, help="test images")
    parser.add_argument("--steps", default="1,2,5,10,25,50,100,200")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    command = "OMP_NUM_THREADS={} python benchmarks/lia/reconstruction.py {}".format(
        os.environ.get("OMP_NUM_THREADS", args.threads), " ".join(sys.argv[1:] if argv is None else argv))
    model = genae.load(args.model).eval()
    test = open_dataset("fashion-mnist", split="test", resolution=32, root=FASHION_ROOT, limit=args.n)
    images = torch.stack([test[i][0] for i in range(len(test))])
    rows = run(model, images, [int(s) for s in args.steps.split(",")])
    meta = {"command": command, "git_commit": git_commit(), "model": args.model, "n": len(images),
            "machine": f"{platform.processor() or platform.machine()}, {args.threads} torch thread(s), shared CPU",
            "loss": "pixel MSE", "space": "w+"}
    write_text_atomic(args.out.with_suffix(".json"), json.dumps({**meta, "rows": rows}, indent=2) + "\n")
    encoder = rows[0]
    lines = [
        f"# LIA reconstruction vs MSE-based inversion ({args.model}, {len(images)} Fashion-MNIST test images)", "",
        f"Command: `{command}` at commit {meta['git_commit']}; {meta['machine']}. MSE on images in [-1, 1]; "
        "inversion: `genae.invert` in W+, pixel-MSE loss, projector schedule (lr 0.1).", "",
        "| method | optimiser steps | seconds (all images) | MSE |", "|---|---|---|---|",
        f"| encoder only | 0 | {encoder['seconds']:.3f} | {encoder['mse']:.4f} |",
    ]
    lines += [f"| {r['method'].replace(' + steps', '')} + {r['steps']} steps | {r['steps']} | {r['seconds']:.2f} | "
              f"{r['mse']:.4f} |" for r in rows[1:]]
    write_text_atomic(args.out.with_suffix(".md"), "\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
