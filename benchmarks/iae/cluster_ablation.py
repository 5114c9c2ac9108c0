"""Why the clustering IAE collapses, and what each fix does: the four on/off combinations of
``logit_batch_norm`` and ``code_disc_batch_mean`` on the clustering run of ``train_all.py`` (same widths,
30 categories, 10-d decoder noise, batch 64, seed 0), each trained for ``--images`` and scored on the whole
Fashion-MNIST test split (categories used, cluster error by majority label).

    GENAE_DATA=/path/with/fashion-mnist OMP_NUM_THREADS=1 nice -n 5 \
        python benchmarks/iae/cluster_ablation.py --out runs/iae-ablation --images 64000

Writes ``benchmarks/results/iae-cluster-ablation.{md,json}``.
"""

from __future__ import annotations

import argparse
import itertools
import json
import sys
import time
from pathlib import Path
from typing import Any

import torch

import genae
from genae.bench.provenance import machine
from genae.data import open_dataset
from genae.io import write_text_atomic
from genae.metrics.clustering import cluster_error
from genae.registry import REGISTRY, import_object
from genae.training.trainer import Trainer

sys.path.insert(0, str(Path(__file__).resolve().parent))
from train_all import CLUSTER_PAPER, WIDTHS  # noqa: E402  (the bundled run's widths and code)

RESULTS = Path(__file__).resolve().parents[2] / "benchmarks" / "results" / "iae-cluster-ablation"


def train_and_score(folder: Path, fixes: dict[str, bool], images: int, test: torch.Tensor,
                    labels: torch.Tensor) -> dict[str, Any]:
    torch.manual_seed(0)
    model = genae.create("iae", **{**WIDTHS, **CLUSTER_PAPER, **fixes})
    recipe = import_object(REGISTRY.model_spec("iae").recipe)(model, batch_size=64)
    data = open_dataset("fashion-mnist", split="train", resolution=32)
    started = time.perf_counter()
    result = Trainer(model, recipe, data, out_dir=folder, total_images=images, seed=0, log_every=50,
                     grid_every=None, checkpoint_every=None, progress=False).fit()
    trained = genae.load(result.model_dir).eval()
    with torch.no_grad():
        score = cluster_error(trained, test, labels)
    return {**fixes, "images": images, "train_s": round(time.perf_counter() - started, 1),
            "clusters_used": score["clusters_used"], "cluster_error": score["value"]}


def markdown(payload: dict[str, Any]) -> str:
    lines = [
        "# Clustering IAE: category collapse and its two fixes",
        "",
        f"`{payload['command']}` at git commit {payload['machine']['git_commit']} on {payload['machine']['cpu']} "
        f"({payload['machine']['torch_threads']} torch thread, load {payload['machine']['load_average_1_5_15'][0]} "
        "at the start). Each row trains the clustering IAE of `train_all.py` (30 categories, 10-d decoder noise) "
        f"for {payload['images']:,} images, seed 0, and scores it on the 10,000 Fashion-MNIST test images.",
        "",
        "| logit_batch_norm | code_disc_batch_mean | categories used (of 30) | cluster error | train s |",
        "|---|---|---|---|---|",
    ]
    for r in payload["rows"]:
        lines.append(f"| {r['logit_batch_norm']} | {r['code_disc_batch_mean']} | {r['clusters_used']} | "
                     f"{r['cluster_error']:.3f} | {r['train_s']:.0f} |")
    lines += ["", "k-means on raw pixels at K = 30 errs on 0.321 of the same images (benchmarks/results/iae.md).", ""]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, required=True, help="run folder (one sub-folder per combination)")
    parser.add_argument("--images", type=int, default=64_000)
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    where = machine()  # before training, so the load is the machine's, not ours
    test_set = open_dataset("fashion-mnist", split="test", resolution=32)
    test = torch.stack([test_set[i][0] for i in range(len(test_set))])
    labels = torch.as_tensor(test_set.labels)
    rows = []
    for norm, mean in itertools.product((False, True), repeat=2):
        fixes = {"logit_batch_norm": norm, "code_disc_batch_mean": mean}
        rows.append(train_and_score(args.out / f"bn{int(norm)}-mean{int(mean)}", fixes, args.images, test, labels))
        print(json.dumps(rows[-1]), flush=True)
    command = "OMP_NUM_THREADS=1 python benchmarks/iae/cluster_ablation.py " + " ".join(
        sys.argv[1:] if argv is None else argv)
    payload = {"command": command, "machine": where, "images": args.images, "rows": rows}
    write_text_atomic(RESULTS.with_suffix(".json"), json.dumps(payload, indent=2) + "\n")
    write_text_atomic(RESULTS.with_suffix(".md"), markdown(payload))
    print(markdown(payload))


if __name__ == "__main__":
    main()
