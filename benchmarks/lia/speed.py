"""Training and inference throughput of LIA next to the automodulator at equal generator width.

Both models use the bundled Fashion-MNIST configs (generator/decoder widths [128, 64, 32, 16], 32×32 grey,
64-d latent). Training img/s: the shared Trainer's own throughput log (images per wall second over the log
windows after the first, so start-up and export are excluded) for ``--steps`` steps at 32 px: LIA stage 1
(GAN, no growing), LIA stage 2 (encoder, from the bundled model) and the automodulator's recipe (grown to
32 px within its first steps). Encode/decode img/s: :func:`genae.metrics.speed.measure_speed`.

    OMP_NUM_THREADS=1 python benchmarks/lia/speed.py
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
from pathlib import Path
from typing import Any

import torch

import genae
from genae.bench.provenance import git_commit
from genae.data import open_dataset
from genae.io import write_text_atomic
from genae.metrics.speed import measure_speed
from genae.registry import REGISTRY, import_object
from genae.training import Trainer

REPO = Path(__file__).resolve().parents[2]
RESULTS = REPO / "benchmarks" / "results" / "lia-speed"
LOG_EVERY = 5


def train_rate(model: Any, options: dict[str, Any], dataset: Any, steps: int) -> float:
    recipe = import_object(REGISTRY.model_spec(model.architecture).recipe)(model, **options)
    with tempfile.TemporaryDirectory() as out:
        Trainer(model, recipe, dataset, out_dir=out, steps=steps, log_every=LOG_EVERY, grid_every=None,
                checkpoint_every=None, progress=False).fit()
        records = [json.loads(line) for line in (Path(out) / "metrics.jsonl").read_text().splitlines()]
    rates = [r["images_per_s"] for r in records[1:] if r["resolution"] == model.resolution]
    return sum(rates) / len(rates)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=40)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--images", type=int, default=1000, help="test images for encode/decode speed")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    command = " ".join(["OMP_NUM_THREADS={} python benchmarks/lia/speed.py".format(
        os.environ.get("OMP_NUM_THREADS", args.threads)), *(sys.argv[1:] if argv is None else argv)])
    data = open_dataset("fashion-mnist-mini", split="test", resolution=32)
    images = torch.stack([data[i][0] for i in range(len(data))]).repeat(args.images // len(data) + 1, 1, 1, 1)
    lia, automod = genae.load("lia-fashion-mnist-32"), genae.load("automodulator-fashion-mnist-32")
    fresh_lia = genae.create("lia", **lia.config.to_dict())
    fresh_automod = genae.create("automodulator", **automod.config.to_dict())
    rows = {
        "lia stage 1 (GAN)": {"train_img_s": train_rate(fresh_lia, {"stage": 1, "grow": False}, data, args.steps)},
        "lia stage 2 (encoder)": {"train_img_s": train_rate(
            lia, {"stage": 2, "perceptual": "fashion-mnist"}, data, args.steps)},
        "automodulator": {"train_img_s": train_rate(
            fresh_automod, {"images_per_phase": 32, "fade_images": 0, "batch_sizes": 32}, data, args.steps + 12)},
    }
    for name, model in (("lia", genae.load("lia-fashion-mnist-32")), ("automodulator", automod)):
        speed = measure_speed(model.eval(), images[: args.images])
        rows.setdefault(name, {}).update(encode_img_s=speed["encode_images_per_s"], decode_img_s=speed["decode_images_per_s"])
    meta = {"command": command, "git_commit": git_commit(), "threads": args.threads, "batch_size": 32,
            "cpu": platform.processor() or platform.machine(), "load": os.getloadavg()}
    write_text_atomic(RESULTS.with_suffix(".json"), json.dumps({**meta, "rows": rows}, indent=2) + "\n")
    lines = ["# LIA speed next to the automodulator (equal generator widths, 32×32 grey, CPU)", "",
             f"Command: `{command}` at commit {meta['git_commit']}; CPU {meta['cpu']}, {args.threads} torch "
             f"thread(s), batch 32, shared machine (load average {meta['load'][0]:.1f} at the end).", "",
             "| what | images/s |", "|---|---|"]
    for name, row in rows.items():
        lines += [f"| {name}: {key.replace('_img_s', '').replace('_', ' ')} | {value:.1f} |" for key, value in row.items()]
    write_text_atomic(RESULTS.with_suffix(".md"), "\n".join(lines) + "\n")
    print(json.dumps(rows), flush=True)


if __name__ == "__main__":
    main()
