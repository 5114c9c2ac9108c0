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

    OMP_NUM_THREADS=1 python benchmarks/peers/pythae_vae.py --steps 150
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


def train_genae(start: Any, images: torch.Tensor, args: argparse.Namespace) -> tuple[Any, StepClock]:
    model = copy.deepcopy(start)
    pixels = images[0].numel()
    recipe = VAERecipe(
        model, reconstruction="l2", kl_weight=2 / pixels,
        encoder_lr=args.lr, decoder_lr=args.lr, betas=(0.9, 0.999), batch_size=args.batch_size,
    )
    dataset = torch.utils.data.TensorDataset(images, torch.zeros(len(images), dtype=torch.long))
    with tempfile.TemporaryDirectory() as out:
        trainer = Trainer(model, recipe, dataset, out_dir=out, steps=args.steps, seed=args.seed, log_every=1,
                          grid_every=None, checkpoint_every=None, progress=False)
        started = time.perf_counter()
        trainer.fit()
        clock = StepClock()
        clock.wall = time.perf_counter() - started
        records = [json.loads(line) for line in (Path(out) / "metrics.jsonl").read_text().splitlines()]
    clock.marks = [started] + [started + r["wall_time_s"] for r in records]
    return model, clock


def write_report(result: dict[str, Any], out: Path) -> None:
    write_text_atomic(out.with_suffix(".json"), json.dumps(result, indent=2) + "\n")
    p, g = result["pythae"], result["genae"]
    lines = [
        "# Peer check: pythae's VAE vs genae's VAE",
        "",
        f"Same networks (genae `vae`, {result['parameters']:,} parameters, config `{json.dumps(CONFIG)}`), same "
        f"initial weights, same objective, Adam lr {result['lr']} betas (0.9, 0.999), batch {result['batch_size']}, "
        f"{result['steps']} steps on the first {result['train_images']} Fashion-MNIST training images (32×32, "
        f"[-1, 1]); reconstruction MSE of posterior means on {result['test_images']} test images. "
        f"{result['threads']} thread(s); one process, runs in the order pythae, genae, genae, pythae (times "
        f"pooled per library). Produced by `{result['command']}`.",
        "",
        "| library | version | median s/step | wall s / step | test reconstruction MSE |",
        "|---|---|---|---|---|",
        f"| pythae | {p['version']} | {p['median_step_s']} | {p['wall_per_step_s']} | {p['test_mse']:.4f} |",
        f"| genae | {g['version']} | {g['median_step_s']} | {g['wall_per_step_s']} | {g['test_mse']:.4f} |",
        "",
        f"genae / pythae time per step: **{result['median_step_ratio']:.2f}×** (medians), "
        f"{result['wall_ratio']:.2f}× (wall). Untrained test MSE: {result['untrained_test_mse']:.4f}.",
        "",
        "Notes: the machine's CPU was shared with other jobs (load average before / after: "
        f"{result['load_before']} / {result['load_after']}), so absolute times are noisy; medians resist "
        "short bursts. Both runs are one epoch, so pythae's \"best epoch\" is its last. Wall times include "
        "each library's end-of-run save (pythae: cloudpickle of the custom networks; genae: safetensors + "
        "card) and genae's per-step JSONL logging. (pythae cannot save networks with torch parametrizations, "
        "e.g. the spectral-norm encoder of genae's PIONEER/automodulator: torch refuses to pickle them.) The libraries draw different batch orders and reparameterisation "
        "noise, so their MSEs also differ by chance; one seed per library is not a significance test.",
        "",
    ]
    write_text_atomic(out.with_suffix(".md"), "\n".join(lines))


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    torch.set_num_threads(args.threads)
    logging.getLogger("pythae").setLevel(logging.WARNING)
    try:
        import pythae  # noqa: F401 - fail early and clearly when the optional dependency is missing
    except ImportError as error:
        sys.exit(f"pythae is not importable here ({error}); install it with `pip install pythae`")
    train = load_images("train", args.train_images)
    test = load_images("test", args.test_images)
    torch.manual_seed(args.seed)
    start = genae.create("vae", **CONFIG)
    untrained = reconstruction_mse(start, test)
    load_before = os.getloadavg()
    # A-B-B-A order, so a drift in the machine's load biases neither side. Runs are seeded: the two runs
    # of one library train identical models, and the MSE reported is that of each library's last run.
    trainers = {"pythae": train_pythae, "genae": train_genae}
    clocks: dict[str, list[StepClock]] = {"pythae": [], "genae": []}
    models: dict[str, Any] = {}
    for name in ("pythae", "genae", "genae", "pythae"):
        models[name], clock = trainers[name](start, train, args)
        clocks[name].append(clock)
    result = {
        "command": "OMP_NUM_THREADS={} python benchmarks/peers/pythae_vae.py {}".format(
            os.environ.get("OMP_NUM_THREADS", "?"), " ".join(sys.argv[1:] if argv is None else argv)).strip(),
        "config": CONFIG,
        "parameters": sum(p.numel() for p in start.parameters()),
        "steps": args.steps, "batch_size": args.batch_size, "lr": args.lr, "threads": args.threads,
        "train_images": args.train_images, "test_images": len(test),
        "untrained_test_mse": round(untrained, 5),
        "pythae": {**timing(clocks["pythae"]), "version": importlib.metadata.version("pythae"),
                   "test_mse": round(reconstruction_mse(models["pythae"], test), 5)},
        "genae": {**timing(clocks["genae"]), "version": genae.__version__,
                  "test_mse": round(reconstruction_mse(models["genae"], test), 5)},
        "load_before": [round(v, 2) for v in load_before],
        "load_after": [round(v, 2) for v in os.getloadavg()],
        "machine": f"{platform.machine()} {platform.processor()}".strip(),
        "torch": torch.__version__,
    }
    result["median_step_ratio"] = round(result["genae"]["median_step_s"] / result["pythae"]["median_step_s"], 3)
    result["wall_ratio"] = round(result["genae"]["wall_s"] / result["pythae"]["wall_s"], 3)
    write_report(result, args.out)
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
