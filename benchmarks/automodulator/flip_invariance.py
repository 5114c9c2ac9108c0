"""Does flip-invariance training (paper 3.3/4.3, with the support block) put orientation in the coarse styles?

    python benchmarks/automodulator/flip_invariance.py --model runs/automod-flip/model \
        --baseline automodulator-fashion-mnist-32

Fashion-MNIST shoes (sandals, sneakers, ankle boots) all point the same way, so their mirror images differ
in orientation only. For shoe pairs (a, b) each model decodes the styles below ``--cut`` from the mirrored
``a`` and the styles from the cut on from ``b``. If the coarse styles carry orientation and nothing else, the
result is ``b`` mirrored: ``b``'s shoe, ``a``'s (flipped) orientation. Scores, on brightness-normalised
16x16 images (intensity is a fine-style property and would blur the comparison):

- ``orientation_follows_coarse``: share of results closer to mirrored ``b`` than to ``b`` itself;
- ``identity_kept``: share of results closer to mirrored ``b`` than to mirrored ``a`` (whose coarse styles
  were used): the coarse styles did not also bring ``a``'s shape;
- ``swap_succeeds``: share closer to mirrored ``b`` than to both others (orientation swapped, shoe kept);
- the mean correlations with each candidate.

Writes ``benchmarks/results/automodulator-flip-invariance.{md,json}`` and a grid per model under ``--grids``.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor

import genae
from genae.data import open_dataset
from genae.io import write_text_atomic
from genae.viz import save_image_grid

REPO = Path(__file__).resolve().parents[2]
RESULTS = REPO / "benchmarks" / "results"
SHOE_CLASSES = (5, 7, 9)  # sandal, sneaker, ankle boot


def standardised(images: Tensor, size: int = 16) -> Tensor:
    small = F.adaptive_avg_pool2d(images, size).flatten(1)
    return (small - small.mean(1, keepdim=True)) / (small.std(1, keepdim=True) + 1e-6)


def correlation(x: Tensor, y: Tensor) -> Tensor:
    return (standardised(x) * standardised(y)).mean(1)


def shoes(limit: int) -> Tensor:
    test = open_dataset("fashion-mnist", split="test", resolution=32)
    picked = [test[i][0] for i in range(len(test)) if int(test[i][1]) in SHOE_CLASSES]
    if len(picked) < 2:
        raise RuntimeError("fewer than 2 shoe images in the Fashion-MNIST test split")
    return torch.stack(picked[:limit])


@torch.no_grad()
def score(model: Any, a: Tensor, b: Tensor, cut: int) -> tuple[dict[str, float], Tensor]:
    n = model.decoder.num_styles
    if not 1 <= cut < n:
        raise ValueError(f"--cut: expected 1..{n - 1} for a model with {n} style slots, got {cut}")
    a_mirror, b_mirror = torch.flip(a, dims=[3]), torch.flip(b, dims=[3])
    result = model.mix([model.encode(a_mirror), model.encode(b)], [(0, cut), (cut, n)]).clamp(-1, 1)
    to_b_mirror, to_b, to_a_mirror = correlation(result, b_mirror), correlation(result, b), correlation(result, a_mirror)
    scores = {
        "orientation_follows_coarse": float((to_b_mirror > to_b).float().mean()),
        "identity_kept": float((to_b_mirror > to_a_mirror).float().mean()),
        "swap_succeeds": float(((to_b_mirror > to_b) & (to_b_mirror > to_a_mirror)).float().mean()),
        "corr_with_b_mirrored": float(to_b_mirror.mean()),
        "corr_with_b": float(to_b.mean()),
        "corr_with_a_mirrored": float(to_a_mirror.mean()),
        "reconstruction_mse": float(((model.reconstruct(b).clamp(-1, 1) - b) ** 2).mean()),
    }
    return scores, torch.stack([a_mirror[:12], b[:12], result[:12], b_mirror[:12]])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", required=True, help="the flip-invariance model (name or folder)")
    parser.add_argument("--baseline", default="automodulator-fashion-mnist-32", help="a model trained without it")
    parser.add_argument("--cut", type=int, default=2, help="first style slot taken from b (default 2: 4-8 px coarse)")
    parser.add_argument("--images", type=int, default=600)
    parser.add_argument("--grids", type=Path, default=Path("runs/flip-invariance-grids"))
    args = parser.parse_args()
    torch.manual_seed(0)
    b = shoes(args.images)
    a = b.roll(1, dims=0)
    results: dict[str, Any] = {
        "command": "python benchmarks/automodulator/flip_invariance.py " + " ".join(sys.argv[1:]),
        "git_commit": subprocess.run(["git", "rev-parse", "HEAD"], cwd=REPO, capture_output=True,
                                     text=True).stdout.strip(),
        "shoe_pairs": len(b), "cut": args.cut, "models": {},
    }
    args.grids.mkdir(parents=True, exist_ok=True)
    for role, name in (("invariance", args.model), ("baseline", args.baseline)):
        model = genae.load(name).eval()
        scores, rows = score(model, a, b, args.cut)
        grid = args.grids / f"{role}.png"
        save_image_grid(rows.flatten(0, 1), grid, nrow=12, scale=3)
        results["models"][role] = {"model": str(name), "style_slots": model.decoder.num_styles,
                                   "support_block": getattr(model.config, "support_block", None),
                                   "grid": str(grid), **{k: round(v, 4) for k, v in scores.items()}}
        print(role, json.dumps(results["models"][role]), flush=True)
    write_text_atomic(RESULTS / "automodulator-flip-invariance.json", json.dumps(results, indent=2) + "\n")
    write_text_atomic(RESULTS / "automodulator-flip-invariance.md", report(results))


def report(results: dict[str, Any]) -> str:
    lines = [
        "# Automodulator: flip invariance with a support block (Fashion-MNIST shoes)", "",
        f"Command: `{results['command']}`  ", f"Git commit: `{results['git_commit']}`  ",
        f"{results['shoe_pairs']} shoe pairs (a, b) from the test split; styles below slot {results['cut']} from "
        "mirrored a, the rest from b. Ideal: the result is b mirrored.", "",
        "| model | slots | orientation follows coarse | identity kept | swap succeeds | corr(mirrored b) | "
        "corr(b) | corr(mirrored a) | reconstruction MSE |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for role, r in results["models"].items():
        lines.append(f"| {role}: `{r['model']}` | {r['style_slots']} | {r['orientation_follows_coarse']:.2f} | "
                     f"{r['identity_kept']:.2f} | {r['swap_succeeds']:.2f} | {r['corr_with_b_mirrored']:.3f} | {r['corr_with_b']:.3f} | "
                     f"{r['corr_with_a_mirrored']:.3f} | {r['reconstruction_mse']:.4f} |")
    lines += ["", "Grid rows: mirrored a (coarse source), b (the rest), the mix, mirrored b (the ideal)."]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
