"""Peer check: pythae's VAE and genae's VAE, same networks, same data, same objective, same steps.

pythae (https://github.com/clementchadebec/benchmark_VAE) is the best-known library of VAE-family models.
Both sides train *the same* encoder and decoder (genae's ``vae`` networks, wrapped in pythae's
``BaseEncoder``/``BaseDecoder``; both start from identical weights) on the same Fashion-MNIST images:

- pythae: ``pythae.models.VAE`` (loss ``0.5·Σ_pixels (x̂ − x)² + Σ_dims KL``, averaged over the batch) trained
  by ``pythae.trainers.BaseTrainer``;
- genae: ``genae.create("vae")`` trained by ``genae.training.Trainer`` with ``VAERecipe`` set to the same
  objective up to a constant factor (``l2`` reconstruction averaged over P pixels + ``kl_weight = 2/P``
  times the per-image KL = pythae's loss × 2/P; Adam is invariant to that factor), the same
  Adam settings, learning rate, batch size and number of steps.

Reported: time per optimisation step (median of per-step times, and total wall time / steps) and their
ratio, measured in one process one after the other; reconstruction MSE of the posterior means on held-out
images, computed by one function for both. Not part of the test suite: pythae is an optional dependency
(``pip install pythae``; on torch 2.14 it installs with ``--no-deps`` plus pydantic, imageio, cloudpickle).

    OMP_NUM_THREADS=1 PYTHONPATH=/path/to/pythae python benchmarks/peers/pythae_vae.py --steps 150 --threads 1 \
        --genae-precisions fp32,auto
"""

from __future__ import annotations

import argparse
import copy
import importlib.metadata
import json
import logging
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import torch

import genae
from genae.bench.provenance import cpu_model, git_commit
from genae.data import open_dataset
from genae.io import write_text_atomic
from genae.training.trainer import Trainer
from genae_plugins.baselines.recipe import VAERecipe

REPO = Path(__file__).resolve().parents[2]
RESULTS = REPO / "benchmarks" / "results"
FASHION_ROOT = "/usr/share/datasets/fashion-mnist"
CONFIG: dict[str, Any] = {
    "resolution": 32, "channels_in": 1, "latent_dim": 64,
    "channels": [64, 64, 32, 16], "encoder_channels": [64, 64, 32, 16],
}


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=150)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--lr", type=float, default=5e-4)
    parser.add_argument("--train-images", type=int, default=4800, help="first N Fashion-MNIST training images")
    parser.add_argument("--test-images", type=int, default=1000)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--genae-precisions", default="fp32",
                        help="comma-separated Trainer precisions for genae's runs, e.g. fp32,auto; "
                             "append +compile for a run with Trainer(compile=True), e.g. fp32+compile")
    parser.add_argument("--channels", default=",".join(map(str, CONFIG["channels"])),
                        help="decoder and encoder widths of the 4 blocks (narrower: the loop's share grows)")
    parser.add_argument("--out", type=Path, default=RESULTS / "baselines-pythae")
    return parser.parse_args(argv)


def load_images(split: str, limit: int) -> torch.Tensor:
    data = open_dataset("fashion-mnist", split=split, resolution=32, root=FASHION_ROOT, limit=limit)
    return torch.stack([data[i][0] for i in range(len(data))])


@torch.no_grad()
def reconstruction_mse(model: Any, images: torch.Tensor) -> float:
    """MSE in [-1, 1] of decoding the posterior means (clamped, as ``model.reconstruct`` does)."""
    model.eval()
    errors = [((model.reconstruct(chunk) - chunk) ** 2).mean() * len(chunk) for chunk in images.split(250)]
    return float(sum(errors) / len(images))


class StepClock:
    """Timestamps at the end of every optimisation step; per-step times are their differences."""

    def __init__(self) -> None:
        self.marks: list[float] = []
        self.wall = 0.0

    def mark(self) -> None:
        self.marks.append(time.perf_counter())

    @property
    def steps(self) -> list[float]:
        return [b - a for a, b in zip(self.marks, self.marks[1:])]


def timing(clocks: list[StepClock]) -> dict[str, float]:
    """Pooled over runs: median per-step time, and total wall time per step."""
    steps = [t for clock in clocks for t in clock.steps]
    wall = sum(clock.wall for clock in clocks)
    return {
        "runs": len(clocks),
        "steps_per_run": len(clocks[0].steps),
        "median_step_s": round(statistics.median(steps), 5),
        "wall_s": round(wall, 2),
        "wall_per_step_s": round(wall / len(steps), 5),
    }


def train_pythae(start: Any, images: torch.Tensor, args: argparse.Namespace) -> tuple[Any, StepClock]:
    """Train pythae's VAE on genae's networks; return a genae model holding the trained weights."""
    from pythae.data.datasets import BaseDataset
    from pythae.models import VAE, VAEConfig
    from pythae.models.base.base_utils import ModelOutput
    from pythae.models.nn import BaseDecoder, BaseEncoder
    from pythae.trainers import BaseTrainer, BaseTrainerConfig
    from pythae.trainers.training_callbacks import TrainingCallback

    class Encoder(BaseEncoder):
        def __init__(self, net: torch.nn.Module) -> None:
            super().__init__()
            self.net = net

        def forward(self, x: torch.Tensor) -> ModelOutput:
            mean, logvar = self.net.encode_distribution(x)
            return ModelOutput(embedding=mean, log_covariance=logvar)

    class Decoder(BaseDecoder):
        def __init__(self, net: torch.nn.Module) -> None:
            super().__init__()
            self.net = net

        def forward(self, z: torch.Tensor) -> ModelOutput:
            return ModelOutput(reconstruction=self.net(z))

    clock = StepClock()

    class Clock(TrainingCallback):
        def on_train_step_end(self, training_config: Any, **kwargs: Any) -> None:
            clock.mark()

    trained = copy.deepcopy(start)
    config = VAEConfig(input_dim=tuple(start.image_shape), latent_dim=start.latent_dim, reconstruction_loss="mse")
    model = VAE(config, encoder=Encoder(trained.encoder), decoder=Decoder(trained.decoder))
    steps_per_epoch = len(images) // args.batch_size
    if args.steps % steps_per_epoch:
        raise ValueError(f"--steps must be a multiple of {steps_per_epoch} (pythae trains whole epochs)")
    with tempfile.TemporaryDirectory() as out:
        training = BaseTrainerConfig(
            output_dir=out, num_epochs=args.steps // steps_per_epoch, learning_rate=args.lr,
            per_device_train_batch_size=args.batch_size, optimizer_cls="Adam",
            optimizer_params={"betas": (0.9, 0.999)}, keep_best_on_train=True, no_cuda=True, seed=args.seed,
        )
        # Whole epochs without a last partial batch, as the genae run: drop the images that do not fill one.
        usable = images[: steps_per_epoch * args.batch_size]
        dataset = BaseDataset(usable, torch.zeros(len(usable)))
        trainer = BaseTrainer(model, train_dataset=dataset, training_config=training, callbacks=[Clock()])
        clock.mark()
        started = time.perf_counter()
        trainer.train()
        clock.wall = time.perf_counter() - started
    # pythae keeps "the best epoch on the training loss"; copy that model's weights into the genae model.
    best = trainer._best_model
    trained.encoder.load_state_dict(best.encoder.net.state_dict())
    trained.decoder.load_state_dict(best.decoder.net.state_dict())
    return trained, clock


def genae_recipe(model: Any, lr: float, batch_size: int) -> VAERecipe:
    """pythae's VAE objective × 2/P (P pixels), which Adam does not see, and its Adam settings."""
    pixels = model.channels * model.resolution**2
    return VAERecipe(model, reconstruction="l2", kl_weight=2 / pixels, encoder_lr=lr, decoder_lr=lr,
                     betas=(0.9, 0.999), batch_size=batch_size)


class ClockedTrainer(Trainer):
    """genae's Trainer with a timestamp after every step (what pythae's ``on_train_step_end`` callback gives)."""

    clock: StepClock

    def _step(self, batch: torch.Tensor, phase: Any) -> dict[str, float]:
        losses = super()._step(batch, phase)
        self.clock.mark()
        return losses


def train_genae(start: Any, images: torch.Tensor, args: argparse.Namespace,
                precision: str, compile: bool = False) -> tuple[Any, StepClock, tuple[str, str]]:
    model = copy.deepcopy(start)
    recipe = genae_recipe(model, args.lr, args.batch_size)
    dataset = torch.utils.data.TensorDataset(images, torch.zeros(len(images), dtype=torch.long))
    with tempfile.TemporaryDirectory() as out:
        # The Trainer's default logging cadence (every 50 steps); the clock needs no per-step log lines.
        trainer = ClockedTrainer(model, recipe, dataset, out_dir=out, steps=args.steps, seed=args.seed,
                                 grid_every=None, checkpoint_every=None, progress=False, precision=precision,
                                 compile=compile)
        trainer.clock = clock = StepClock()
        clock.mark()
        started = time.perf_counter()
        trainer.fit()
        clock.wall = time.perf_counter() - started
    return model, clock, (trainer.precision, trainer.precision_reason)


def _row(name: str, run: dict[str, Any]) -> str:
    return (f"| {name} | {run['version']} | {run.get('precision', 'fp32')} | {run['median_step_s']} | "
            f"{run['wall_per_step_s']} | {run['test_mse']:.4f} |")


def _table(result: dict[str, Any]) -> list[str]:
    lines = [
        f"### {result['threads']} thread(s), channels {result['config']['channels']} ({result['parameters']:,} "
        f"parameters): `{result['command']}`",
        "",
        f"CPU: {result.get('cpu', result['machine'])}; load average before / after: {result['load_before']} / "
        f"{result['load_after']}; torch {result['torch']}; commit {result.get('git_commit', 'not recorded')}.",
        "",
        "| library | version | precision | median s/step | wall s / step | test reconstruction MSE |",
        "|---|---|---|---|---|---|",
        _row("pythae", result["pythae"]),
    ]
    genae_runs = {k: v for k, v in result.items() if k == "genae" or k.startswith("genae:")}
    lines += [_row(name, run) for name, run in genae_runs.items()]
    lines.append("")
    for name, run in genae_runs.items():
        lines.append(f"- {name} / pythae time per step: **{run['median_step_s'] / result['pythae']['median_step_s']:.2f}x** "
                     f"(medians), {run['wall_s'] / result['pythae']['wall_s']:.2f}x (wall)"
                     + (f"; precision: {run['precision_reason']}" if run.get("precision_reason") else ""))
    return [*lines, f"- untrained test MSE: {result['untrained_test_mse']:.4f}", ""]


def run_key(threads: int, channels: list[int]) -> str:
    """``"1"`` for the default widths at 1 thread, ``"1 @ 16,16,8,4"`` for narrower networks."""
    return str(threads) if channels == CONFIG["channels"] else f"{threads} @ {','.join(map(str, channels))}"


def _profile_tables(profiles: dict[str, Any]) -> list[str]:
    """The per-step breakdowns of ``profile_vae_step.py``, one column per profiled width and thread count."""
    keys = list(profiles)
    parts = list(profiles[keys[0]]["profiled_ms_per_step"])
    lines = [
        "## Where genae's step goes (`benchmarks/peers/profile_vae_step.py`)",
        "",
        "cProfile of `Trainer.fit` (default `log_every=50`), ms per step; cProfile adds a cost per Python call, so "
        "the Python-heavy rows are upper bounds. The unprofiled rows alternate three loops per round: the "
        "Trainer; the Trainer before it stepped CPU optimisers multi-tensor; a bare loop (the same networks, "
        "loss and Adam at PyTorch's defaults, no Trainer: tensors indexed directly, `randn_like` noise, i.e. "
        "what pythae's loop does); ms per step, medians for the ratios.",
        "",
        "| ms per step | " + " | ".join(f"channels {profiles[k]['channels']}, {profiles[k]['threads']} thread(s)"
                                        for k in keys) + " |",
        "|---|" + "---|" * len(keys),
    ]
    for part in parts:
        lines.append(f"| {part} | " + " | ".join(
            f"{profiles[k]['profiled_ms_per_step'][part]:.3f} ({100 * profiles[k]['profiled_ms_per_step'][part] / profiles[k]['profiled_ms_per_step']['total']:.1f}%)"
            for k in keys) + " |")
    lines += [
        "| Trainer, unprofiled (ms/step per round) | " + " | ".join(
            ", ".join(map(str, profiles[k]["trainer_ms_per_step"])) for k in keys) + " |",
        "| Trainer before multi-tensor optimiser steps, unprofiled | " + " | ".join(
            ", ".join(map(str, profiles[k]["one_tensor_trainer_ms_per_step"])) for k in keys) + " |",
        "| bare loop, unprofiled (ms/step per round) | " + " | ".join(
            ", ".join(map(str, profiles[k]["bare_ms_per_step"])) for k in keys) + " |",
        "| Trainer / bare loop (medians) | " + " | ".join(f"{profiles[k]['trainer_over_bare']}x" for k in keys) + " |",
        "| Trainer before / bare loop (medians) | " + " | ".join(
            f"{profiles[k]['one_tensor_trainer_over_bare']}x" for k in keys) + " |",
        "| parameters | " + " | ".join(f"{profiles[k]['parameters']:,}" for k in keys) + " |",
        "| load before / after | " + " | ".join(f"{profiles[k]['load_before']} / {profiles[k]['load_after']}"
                                               for k in keys) + " |",
        "| commit | " + " | ".join(profiles[k]["machine"]["git_commit"] for k in keys) + " |",
        "",
        "Commands: " + "; ".join(f"`{profiles[k]['command']}`" for k in keys) + ".",
        "",
    ]
    return lines


def write_report(records: dict[str, Any], out: Path) -> None:
    """``records``: ``{"by_threads": {key: result}, "profiles": {key: profile}, "history": [...]}`` and an optional
    ``"conclusion"`` (Markdown written after reading them), all rendered."""
    write_text_atomic(out.with_suffix(".json"), json.dumps(records, indent=2) + "\n")
    latest = records["by_threads"].get("1") or next(iter(records["by_threads"].values()))
    lines = [
        "# Peer check: pythae's VAE vs genae's VAE",
        "",
        f"Same networks (genae `vae`, {latest['parameters']:,} parameters, config `{json.dumps(CONFIG)}`; the "
        "narrower runs change `channels` and `encoder_channels` only), same initial weights, same objective, "
        f"Adam lr {latest['lr']} betas (0.9, 0.999), batch {latest['batch_size']}, "
        f"{latest['steps']} steps on the first {latest['train_images']} Fashion-MNIST training images (32×32, "
        f"[-1, 1]); reconstruction MSE of posterior means on {latest['test_images']} test images. One process per "
        "thread count; runs in the order pythae, genae (each precision), the same genae runs reversed, pythae "
        "(times pooled per library and precision). genae `auto` is `Trainer(precision=\"auto\")`: bf16 "
        "autocast where the CPU has bf16 units (see `genae/precision.py`), else fp32; pythae runs fp32.",
        "",
    ]
    if records.get("conclusion"):
        lines += [records["conclusion"], ""]
    for result in records["by_threads"].values():
        lines += _table(result)
    if records.get("profiles"):
        lines += _profile_tables(records["profiles"])
    lines += [
        "Notes: the machine's 2 cores were shared with other jobs (one core busy with another training process "
        "throughout unless the load says otherwise), so absolute times are noisy; medians resist short "
        "bursts. Both runs are one epoch, so pythae's \"best epoch\" is its last. Wall times include each "
        "library's end-of-run save (pythae: cloudpickle of the custom networks; genae: checkpoint, grid, "
        "safetensors + card); genae logs at its default cadence (`log_every=50`; runs before the loop profile "
        "logged every step, which the per-step times then came from). "
        "(pythae cannot save networks with torch parametrizations, e.g. the spectral-norm encoder of genae's "
        "PIONEER/automodulator: torch refuses to pickle them.) The libraries draw different batch orders and "
        "reparameterisation noise, so their MSEs also differ by chance; one seed per library is not a "
        "significance test.",
        "",
    ]
    if records.get("history"):
        lines += ["## Earlier runs", ""]
        for old in records["history"]:
            ratios = ", ".join(
                f"{name} {run['median_step_s']} s/step ({run['median_step_s'] / old['pythae']['median_step_s']:.2f}x)"
                for name, run in old.items() if name == "genae" or name.startswith("genae:"))
            lines.append(f"- `{old['command']}` (commit {old.get('git_commit', 'not recorded')}): pythae median "
                         f"{old['pythae']['median_step_s']} s/step, {ratios}; load {old['load_before']} / "
                         f"{old['load_after']}")
        lines.append("")
    write_text_atomic(out.with_suffix(".md"), "\n".join(lines))


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    torch.set_num_threads(args.threads)
    logging.getLogger("pythae").setLevel(logging.WARNING)
    try:
        import pythae  # noqa: F401 - fail early and clearly when the optional dependency is missing
    except ImportError as error:
        sys.exit(f"pythae is not importable here ({error}); install it with `pip install pythae`")
    precisions = args.genae_precisions.split(",")
    train = load_images("train", args.train_images)
    test = load_images("test", args.test_images)
    torch.manual_seed(args.seed)
    channels = [int(c) for c in args.channels.split(",")]
    config = {**CONFIG, "channels": channels, "encoder_channels": channels}
    start = genae.create("vae", **config)
    untrained = reconstruction_mse(start, test)
    load_before = os.getloadavg()
    # A-B-B-A order, so a drift in the machine's load biases neither side. Runs are seeded: the two runs
    # of one library train identical models, and the MSE reported is that of each library's last run.
    names = [f"genae:{p}" if p != "fp32" else "genae" for p in precisions]
    clocks: dict[str, list[StepClock]] = {name: [] for name in ["pythae", *names]}
    models: dict[str, Any] = {}
    reasons: dict[str, str] = {}
    for name in ["pythae", *names, *reversed(names), "pythae"]:
        if name == "pythae":
            models[name], clock = train_pythae(start, train, args)
        else:
            precision, _, compiled = (name.partition(":")[2] or "fp32").partition("+")
            models[name], clock, reasons[name] = train_genae(start, train, args, precision, compiled == "compile")
        clocks[name].append(clock)
    result = {
        "command": "OMP_NUM_THREADS={} python benchmarks/peers/pythae_vae.py {}".format(
            os.environ.get("OMP_NUM_THREADS", "?"), " ".join(sys.argv[1:] if argv is None else argv)).strip(),
        "config": config,
        "parameters": sum(p.numel() for p in start.parameters()),
        "steps": args.steps, "batch_size": args.batch_size, "lr": args.lr, "threads": args.threads,
        "train_images": args.train_images, "test_images": len(test),
        "untrained_test_mse": round(untrained, 5),
        "pythae": {**timing(clocks["pythae"]), "version": importlib.metadata.version("pythae"),
                   "test_mse": round(reconstruction_mse(models["pythae"], test), 5)},
        "load_before": [round(v, 2) for v in load_before],
        "load_after": [round(v, 2) for v in os.getloadavg()],
        "machine": f"{platform.machine()} {platform.processor()}".strip(),
        "cpu": cpu_model(),
        "git_commit": git_commit() or "unknown",
        "torch": torch.__version__,
    }
    for name in names:
        result[name] = {**timing(clocks[name]), "version": genae.__version__, "precision": reasons[name][0],
                        "precision_reason": reasons[name][1],
                        "test_mse": round(reconstruction_mse(models[name], test), 5)}
    records: dict[str, Any] = {"by_threads": {}, "history": []}
    if args.out.with_suffix(".json").exists():
        earlier = json.loads(args.out.with_suffix(".json").read_text())
        records = earlier if "by_threads" in earlier else {"by_threads": {}, "history": [earlier]}
    key = run_key(args.threads, channels)
    if key in records["by_threads"]:
        records["history"].append(records["by_threads"][key])  # the run this one replaces stays on record
    records["by_threads"][key] = result
    write_report(records, args.out)
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
