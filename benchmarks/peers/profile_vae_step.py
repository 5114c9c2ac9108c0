"""Where a genae training step of the pythae peer setup goes: network, optimiser, and the loop around them.

Trains the peer check's VAE (``benchmarks/peers/pythae_vae.py``: same data, objective, Adam, batch 32) with
``genae.training.Trainer`` under cProfile and splits the run's time into the network's forward (the recipe's
losses, less its noise draws), backward, the optimiser (``step`` and ``zero_grad``), the per-sample noise
draws, data loading and collation, logging, EMA, the end-of-run save, and the rest (the loop's own Python,
checks, loss conversions). cProfile adds a cost per Python call, so shares of Python-heavy parts are upper
bounds; the unprofiled rounds give the honest total: the Trainer against a bare loop (the same networks,
loss and Adam at PyTorch's defaults, no Trainer: tensors indexed directly, ``randn_like`` noise: what
pythae's loop does), alternating, medians per step.
A third variant is the Trainer as it was before it stepped CPU optimisers multi-tensor.
``--channels`` narrows the networks, where the loop's share grows.

    OMP_NUM_THREADS=1 python benchmarks/peers/profile_vae_step.py --channels 64,64,32,16 --steps 150
"""

from __future__ import annotations

import argparse
import copy
import cProfile
import json
import os
import pstats
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import torch

import genae
from genae.bench.provenance import machine
from genae.training.trainer import Trainer
from genae_plugins.baselines.losses import gaussian_kl

sys.path.insert(0, str(Path(__file__).resolve().parent))
from pythae_vae import CONFIG, RESULTS, genae_recipe, load_images, write_report  # noqa: E402 - the peer's setup

OUT = RESULTS / "baselines-pythae"
# (file suffix, function) whose cumulative time is one part of the step; order matters only for the report.
PARTS: dict[str, tuple[str, str]] = {
    "forward (recipe losses)": ("genae_plugins/baselines/recipe.py", "losses"),
    "per-sample noise draws": ("genae/training/recipe.py", "randn_per_sample"),
    "backward": ("torch/_tensor.py", "backward"),
    "optimizer step": ("torch/optim/optimizer.py", "wrapper"),
    "zero_grad": ("torch/optim/optimizer.py", "zero_grad"),
    "data loading + collation": ("torch/utils/data/dataloader.py", "__next__"),
    "logging (metrics.jsonl)": ("genae/training/trainer.py", "_log"),
    "EMA update": ("genae/training/ema.py", "update"),
    "end-of-run checkpoint": ("genae/training/trainer.py", "save_checkpoint"),
    "end-of-run grid": ("genae/training/trainer.py", "save_grid"),
    "end-of-run export": ("genae/training/trainer.py", "export"),
}
TOTAL = ("genae/training/trainer.py", "fit")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--channels", default="64,64,32,16", help="decoder and encoder widths, 4 blocks")
    parser.add_argument("--steps", type=int, default=150)
    parser.add_argument("--rounds", type=int, default=3, help="alternating unprofiled rounds of Trainer and bare loop")
    parser.add_argument("--log-every", type=int, default=50)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--out", type=Path, default=OUT)
    return parser.parse_args(argv)


class OneTensorAtATimeTrainer(Trainer):
    """The Trainer as it was before it stepped CPU optimisers multi-tensor (PyTorch's CPU default)."""

    def _prefer_multi_tensor(self) -> None:
        return


def trainer_run(start: Any, train: torch.Tensor, args: argparse.Namespace,
                profiler: cProfile.Profile | None = None, trainer_class: type[Trainer] = Trainer) -> float:
    """Seconds per step of ``Trainer.fit`` (end-of-run save included)."""
    model = copy.deepcopy(start)
    dataset = torch.utils.data.TensorDataset(train, torch.zeros(len(train), dtype=torch.long))
    with tempfile.TemporaryDirectory() as out:
        trainer = trainer_class(model, genae_recipe(model, 5e-4, 32), dataset, out_dir=out, steps=args.steps, seed=0,
                          log_every=args.log_every, grid_every=None, checkpoint_every=None, progress=False)
        started = time.perf_counter()
        if profiler is not None:
            profiler.enable()
        trainer.fit()
        if profiler is not None:
            profiler.disable()
        return (time.perf_counter() - started) / args.steps


def bare_run(start: Any, train: torch.Tensor, args: argparse.Namespace) -> float:
    """Seconds per step of the same optimisation with nothing around it."""
    model = copy.deepcopy(start)
    recipe = genae_recipe(model, 5e-4, 32)
    optimizer = recipe.build_optimizers()["autoencoder"]
    order = torch.randperm(len(train), generator=torch.Generator().manual_seed(0))
    per_epoch = len(train) // 32
    started = time.perf_counter()
    for step in range(args.steps):
        images = train[order[(step % per_epoch) * 32:(step % per_epoch + 1) * 32]]
        mean, logvar = model.encoder.encode_distribution(images)
        z = mean + (0.5 * logvar).exp() * torch.randn_like(mean)
        loss = recipe.reconstruction(model.decoder(z), images) + recipe.kl_weight * gaussian_kl(mean, logvar)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        float(loss.detach())
    return (time.perf_counter() - started) / args.steps


def breakdown(profiler: cProfile.Profile, steps: int) -> dict[str, float]:
    """Milliseconds per step of each part (cumulative times under cProfile)."""
    stats = pstats.Stats(profiler).stats  # type: ignore[attr-defined]

    def cumulative(part: tuple[str, str]) -> float:
        return max((v[3] for (file, _, func), v in stats.items() if file.endswith(part[0]) and func == part[1]),
                   default=0.0)

    parts = {name: cumulative(key) for name, key in PARTS.items()}
    parts["forward (recipe losses)"] -= parts["per-sample noise draws"]  # reported on its own
    total = cumulative(TOTAL)
    parts["rest of the loop (Python, checks, loss conversions)"] = total - sum(parts.values())
    return {"total": round(1000 * total / steps, 3), **{k: round(1000 * v / steps, 3) for k, v in parts.items()}}


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    torch.set_num_threads(args.threads)
    channels = [int(c) for c in args.channels.split(",")]
    config = {**CONFIG, "channels": channels, "encoder_channels": channels}
    train = load_images("train", 4800)
    torch.manual_seed(0)
    start = genae.create("vae", **config)
    load_before = [round(x, 2) for x in os.getloadavg()]
    trainer_run(start, train, args)  # warm-up: first-call allocations and oneDNN primitive creation
    times: dict[str, list[float]] = {"trainer": [], "one_tensor_trainer": [], "bare": []}
    runs = {
        "trainer": lambda: trainer_run(start, train, args),
        "one_tensor_trainer": lambda: trainer_run(start, train, args, trainer_class=OneTensorAtATimeTrainer),
        "bare": lambda: bare_run(start, train, args),
    }
    for index in range(args.rounds):
        for name in list(runs) if index % 2 == 0 else reversed(list(runs)):
            times[name].append(runs[name]())
    profiler = cProfile.Profile()
    trainer_run(start, train, args, profiler)
    parts = breakdown(profiler, args.steps)
    result = {
        "command": "OMP_NUM_THREADS={} python benchmarks/peers/profile_vae_step.py {}".format(
            os.environ.get("OMP_NUM_THREADS", "?"), " ".join(sys.argv[1:] if argv is None else argv)).strip(),
        "channels": channels, "parameters": sum(p.numel() for p in start.parameters()), "steps": args.steps,
        "log_every": args.log_every, "threads": args.threads,
        **{f"{name}_ms_per_step": [round(1000 * t, 3) for t in values] for name, values in times.items()},
        "trainer_over_bare": round(statistics.median(times["trainer"]) / statistics.median(times["bare"]), 4),
        "one_tensor_trainer_over_bare": round(
            statistics.median(times["one_tensor_trainer"]) / statistics.median(times["bare"]), 4),
        "profiled_ms_per_step": parts,
        "load_before": load_before, "load_after": [round(x, 2) for x in os.getloadavg()], "machine": machine(),
    }
    print(json.dumps(result, indent=2))
    records = json.loads(args.out.with_suffix(".json").read_text())  # the peer check's; profiles join it
    records.setdefault("profiles", {})[f"{args.threads} @ {args.channels}"] = result
    write_report(records, args.out)


if __name__ == "__main__":
    main()
