"""The generic training loop: everything that is the same for every model family.

The :class:`Trainer` owns the device, the data stream, optimiser stepping (AMP, DDP gradient averaging,
clipping), EMA, logging, image grids, checkpoints and the final export; a
:class:`~genae.training.recipe.Recipe` owns only the family's algorithm. See ``docs/training.md``.
"""

from __future__ import annotations

import contextlib
import json
import math
import random
import time
import warnings
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor
from torch.utils.data import DataLoader, Dataset

from genae.hub import state_mismatch
from genae.interfaces import GenerativeAutoencoder
from genae.io import append_text, read_jsonl, write_text_atomic
from genae.precision import PRECISIONS, resolve_precision
from genae.training import distributed as dist_utils
from genae.training.batches import DataOrder, ShardedBatches, collate_images
from genae.training.checkpoint import (
    CHECKPOINT_NAME,
    CheckpointError,
    claim_output_folder,
    find_checkpoint,
    first_line,
    rng_state,
    save_checkpoint,
    set_rng_state,
)
from genae.training.compilation import compile_model
from genae.training.ema import EMA
from genae.training.interrupt import DeferredInterrupt, TrainingInterrupted
from genae.training.recipe import Phase, Recipe, StepContext
from genae.training.schedule import Schedule, SingleResolution

METRICS_NAME = "metrics.jsonl"
TENSORBOARD_DIR = "tensorboard"
GRIDS_DIR = "grids"
MODEL_DIR = "model"
DEFAULT_BATCH_SIZE = 32
DEFAULT_LR = 1e-3


class TrainingDiverged(RuntimeError):
    """A logged loss became NaN or infinite; training stopped without saving over the last good checkpoint."""


@dataclass
class TrainResult:
    steps: int
    images_seen: int
    wall_time_s: float
    losses: dict[str, float] = field(default_factory=dict)  # the last step's terms (averaged over ranks)
    model_dir: Path | None = None  # None on ranks other than 0


class _Context(StepContext):
    """The trainer's side of the recipe protocol."""

    def __init__(self, trainer: Trainer) -> None:
        self._trainer = trainer
        self.device = trainer.device
        self.step = 0
        self.images_seen = 0
        self.phase = trainer.schedule.phase_at(0)
        self.generator = trainer.generator
        self.world_size = trainer.world.size
        self.rank = trainer.world.rank
        self.seed = trainer.seed

    def optimize(self, optimizer: str, loss: Tensor) -> None:
        trainer = self._trainer
        if optimizer not in trainer.optimizers:
            raise KeyError(f"optimize: no optimiser {optimizer!r}; the recipe built {sorted(trainer.optimizers)}")
        if not isinstance(loss, Tensor) or loss.dim() != 0:
            raise ValueError(f"optimize({optimizer!r}): expected a scalar loss tensor, got {type(loss).__name__}")
        opt, scaler = trainer.optimizers[optimizer], trainer.scalers[optimizer]
        parameters = trainer.optimizer_parameters[optimizer]
        opt.zero_grad(set_to_none=True)
        scaler.scale(loss).backward()
        dist_utils.average_gradients(parameters, trainer.world)
        if trainer.grad_clip is not None:
            scaler.unscale_(opt)
            torch.nn.utils.clip_grad_norm_([p for p in parameters if p.grad is not None], trainer.grad_clip)
        scaler.step(opt)
        scaler.update()

    def autocast(self) -> contextlib.AbstractContextManager[Any]:
        dtype = PRECISIONS[self._trainer.precision]
        if dtype is None:
            return contextlib.nullcontext()
        return torch.autocast(device_type=self.device.type, dtype=dtype)


def _positive_int(name: str, value: Any, allow_none: bool = False) -> int | None:
    if value is None and allow_none:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{name}: expected a positive int{' or None' if allow_none else ''}, got {value!r}")
    return value


def downsample(images: Tensor, resolution: int) -> Tensor:
    """Average-pool a batch down to ``resolution`` (the data of the current growing phase)."""
    size = images.shape[-1]
    if size == resolution:
        return images
    if size < resolution or size % resolution:
        raise ValueError(f"cannot downsample {size}px images to {resolution}px")
    return torch.nn.functional.avg_pool2d(images, kernel_size=size // resolution)


class Trainer:
    """Train ``model`` with ``recipe`` on ``dataset``; see ``docs/training.md`` for every guarantee.

    Length: ``total_images`` (summed over ranks) or ``steps``; with neither, the schedule's
    ``total_images``. ``batch_size``/``lr`` override the schedule's values for every phase (and define the
    schedule when the recipe has none). ``ddp="auto"`` joins the process group when run under ``torchrun``.
    ``compile=True`` compiles the submodules the model names (``model.compile_targets()``) in place.
    ``tensorboard=True`` also writes every log line to TensorBoard event files in ``out_dir/tensorboard``
    (needs the optional ``tensorboard`` package); ``metrics.jsonl`` is written either way.
    """

    def __init__(
        self,
        model: GenerativeAutoencoder,
        recipe: Recipe,
        dataset: Dataset[Any],
        *,
        out_dir: str | Path,
        total_images: int | None = None,
        steps: int | None = None,
        batch_size: int | None = None,
        lr: float | None = None,
        seed: int = 0,
        device: torch.device | str = "cpu",
        precision: str = "fp32",
        grad_clip: float | None = None,
        log_every: int = 50,
        grid_every: int | None = 1000,
        checkpoint_every: int | None = 1000,
        grid_size: int = 8,
        num_workers: int = 0,
        ddp: bool | str = "auto",
        progress: bool = True,
        compile: bool = False,
        tensorboard: bool = False,
    ) -> None:
        if not isinstance(tensorboard, bool):
            raise ValueError(f"tensorboard: expected a bool, got {tensorboard!r}")
        self._tensorboard_class = _summary_writer_class() if tensorboard else None
        self._tensorboard: Any = None
        if not isinstance(model, GenerativeAutoencoder):
            raise TypeError(f"model: expected a GenerativeAutoencoder, got {type(model).__name__}")
        if not model.architecture:
            raise ValueError("model: it has no registered architecture name (needed to export); build it with genae.create")
        if not isinstance(recipe, Recipe):
            raise TypeError(f"recipe: expected a genae.training.Recipe, got {type(recipe).__name__}")
        if recipe.model is not model:
            raise ValueError("recipe: it was built for a different model object than the one given to the Trainer")
        if not (hasattr(dataset, "__len__") and hasattr(dataset, "__getitem__")):
            raise TypeError(f"dataset: expected a map-style dataset (len + indexing), got {type(dataset).__name__}")
        if len(dataset) < 1:
            raise ValueError("dataset: it is empty")
        if steps is not None and total_images is not None:
            raise ValueError("give total_images or steps, not both")
        self.total_images = _positive_int("total_images", total_images, allow_none=True)
        self.steps = _positive_int("steps", steps, allow_none=True)
        self.log_every = _positive_int("log_every", log_every)
        self.grid_every = _positive_int("grid_every", grid_every, allow_none=True)
        self.checkpoint_every = _positive_int("checkpoint_every", checkpoint_every, allow_none=True)
        self.grid_size = _positive_int("grid_size", grid_size)
        if isinstance(num_workers, bool) or not isinstance(num_workers, int) or num_workers < 0:
            raise ValueError(f"num_workers: expected a non-negative int, got {num_workers!r}")
        if grad_clip is not None and not (isinstance(grad_clip, (int, float)) and grad_clip > 0):
            raise ValueError(f"grad_clip: expected a positive number or None, got {grad_clip!r}")
        if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
            raise ValueError(f"seed: expected a non-negative int, got {seed!r}")
        if not isinstance(compile, bool):
            raise ValueError(f"compile: expected a bool, got {compile!r}")
        device = torch.device(device)
        # "auto" picks bf16 only where the device runs it natively; "bf16" elsewhere is refused (emulated bf16
        # convolutions are ~25x slower than fp32). ``precision_reason`` is the one line that says why.
        precision, self.precision_reason = resolve_precision(precision, device)

        self.model, self.recipe, self.dataset = model, recipe, dataset
        self.out_dir = Path(out_dir)
        self.seed, self.precision, self.grad_clip = seed, precision, grad_clip
        self.num_workers, self.progress = num_workers, progress
        self.world, self.device = dist_utils.setup_world(ddp, device)
        self.schedule = self._resolve_schedule(batch_size, lr)
        if self.total_images is None and self.steps is None:
            if self.schedule.total_images is None:
                raise ValueError("give total_images or steps (the schedule has no natural length)")
            self.total_images = self.schedule.total_images

        rank_seed = seed + 1_000_003 * self.world.rank
        random.seed(rank_seed)
        np.random.seed(rank_seed % 2**32)
        torch.manual_seed(rank_seed)
        self.generator = torch.Generator(device=self.device).manual_seed(rank_seed)

        model.to(self.device)
        # In place, so checkpoints and exports are unchanged; compilation itself runs in the first steps.
        self.compiled = compile_model(model) if compile else []
        self.recipe_modules = recipe.owned_modules()
        for module in self.recipe_modules.values():
            module.to(self.device)
        dist_utils.broadcast_module(model, self.world)
        for module in self.recipe_modules.values():
            dist_utils.broadcast_module(module, self.world)
        self.optimizers = recipe.build_optimizers()
        if not self.optimizers:
            raise ValueError(f"{type(recipe).__name__}.build_optimizers returned no optimisers")
        self.optimizer_parameters = {n: dist_utils.parameters_of(o) for n, o in self.optimizers.items()}
        self._prefer_multi_tensor()
        self.lr_multipliers = {name: 1.0 for name in self.optimizers}
        unknown = sorted(set(recipe.lr_multipliers()) - set(self.optimizers))
        if unknown:
            raise ValueError(f"{type(recipe).__name__}.lr_multipliers names unknown optimisers {unknown}")
        self.lr_multipliers.update(recipe.lr_multipliers())
        # Only float16 needs loss scaling; bfloat16 has float32's exponent range.
        scaled = precision == "fp16"
        self.scalers = {name: torch.amp.GradScaler(self.device.type, enabled=scaled) for name in self.optimizers}
        self.ema = EMA(model, recipe.ema_modules())

        self.order = DataOrder(len(dataset), seed)
        self.step = 0
        self.images_seen = 0
        self._wall_time_before = 0.0  # spent by the runs this one resumed
        self._clock: float | None = None
        self.ctx = _Context(self)
        self._last_checkpoint_step: int | None = None
        self._window = _Window(0.0, 0)  # losses since the last log line (checkpointed: exact logs on resume)

    # -- setup helpers ------------------------------------------------------------------------------
    def _prefer_multi_tensor(self) -> None:
        """On CPU, step optimisers whose recipe left ``foreach`` unset with their multi-tensor implementation.

        PyTorch picks it by itself only on CUDA; on CPU its default steps one tensor at a time from Python:
        1.04 ms against 0.65 ms per Adam step of a 30k-parameter VAE (48 tensors, 1 thread), with the same
        updates (``benchmarks/results/baselines-pythae.md``). ``fused`` is left alone: it rounds differently.
        Re-applied after a restore, since ``load_state_dict`` brings back the saved groups.
        """
        if self.device.type != "cpu":
            return
        for optimizer in self.optimizers.values():
            for group in optimizer.param_groups:
                if "foreach" in group and group["foreach"] is None and not group.get("fused") \
                        and not group.get("differentiable"):
                    group["foreach"] = True

    def _resolve_schedule(self, batch_size: int | None, lr: float | None) -> Schedule:
        schedule = self.recipe.schedule()
        if schedule is None:
            schedule = SingleResolution(
                self.model.resolution, batch_size or DEFAULT_BATCH_SIZE, lr if lr is not None else DEFAULT_LR
            )
        elif batch_size is not None or lr is not None:
            schedule = schedule.overridden(batch_size=batch_size, lr=lr)
        if schedule.final_resolution != self.model.resolution:
            raise ValueError(
                f"{type(self.recipe).__name__}.schedule ends at {schedule.final_resolution}px, "
                f"but the model is {self.model.resolution}px"
            )
        for resolution, size in schedule.batch_sizes.items():
            if size > len(self.dataset):  # type: ignore[arg-type]
                raise ValueError(
                    f"batch size {size} (at {resolution}px) is larger than the dataset ({len(self.dataset)} images)"  # type: ignore[arg-type]
                )
            if size % self.world.size:
                raise ValueError(
                    f"batch size {size} (at {resolution}px) is not divisible by the {self.world.size} processes"
                )
        return schedule

    # -- the loop -----------------------------------------------------------------------------------
    def fit(self, resume: bool = False, overwrite: bool = False) -> TrainResult:
        """Train until the requested length; with ``resume=True`` continue from ``out_dir``'s checkpoint.

        A fresh run needs an absent or empty ``out_dir``; ``overwrite=True`` replaces an earlier run there.
        Ctrl-C (one process) stops after the current step, checkpoints it and raises
        :class:`~genae.training.interrupt.TrainingInterrupted`; a resume then continues exactly.
        """
        self._begin(resume, overwrite)
        losses: dict[str, float] = {}
        phase = self.schedule.phase_at(self.images_seen)
        # Under DDP every rank would have to agree on the step to stop at; there Ctrl-C keeps its usual meaning.
        with self._batches() as batches, self._progress_bar() as bar, \
                DeferredInterrupt(self.world.size == 1) as interrupt:
            self._clock = time.perf_counter()
            self._window.restart(self._clock, self.images_seen)
            started = False
            while not self._finished() and not interrupt.requested:
                try:
                    batch = next(batches)
                except Exception:
                    if interrupt.requested:  # loader workers share the terminal's Ctrl-C and may have exited
                        break
                    raise
                new_phase = self.schedule.phase_at(self.images_seen)
                if not started or new_phase.index != phase.index:
                    self._start_phase(new_phase)
                    started = True
                phase = new_phase
                losses = self._step(batch, phase)
                self._window.add(losses)
                bar.update(phase.batch_size if self.total_images is not None else 1)
                if self.step % self.log_every == 0:
                    bar.set_postfix_str(_postfix(self._log(phase)))
                    self._window = _Window(time.perf_counter(), self.images_seen)
                if self.grid_every and self.step % self.grid_every == 0:
                    self.save_grid(phase)
                if self.checkpoint_every and self.step % self.checkpoint_every == 0:
                    self.save_checkpoint()
        if self._last_checkpoint_step != self.step:
            self.save_checkpoint()
        if interrupt.requested and not self._finished():
            raise TrainingInterrupted(f"stopped at step {self.step}; {self.out_dir / CHECKPOINT_NAME} holds it, "
                                      "continue with resume=True (--resume)")
        self.save_grid(phase)
        if self._tensorboard is not None:
            self._tensorboard.close()
            self._tensorboard = None
        model_dir = self.export() if self.world.is_main else None
        dist_utils.barrier(self.world)
        return TrainResult(self.step, self.images_seen, self.wall_time_s, losses, model_dir)

    def _begin(self, resume: bool, overwrite: bool) -> None:
        """Restore or refuse to overwrite; fix the grid's real images and prior draws."""
        if resume:
            found = find_checkpoint(self.out_dir)
            if found is not None:  # None: a run killed during its first save starts from step 0
                self._restore(*found)
        else:
            claim_output_folder(self.out_dir, overwrite, (METRICS_NAME, GRIDS_DIR, MODEL_DIR, TENSORBOARD_DIR),
                                self.world.is_main)
        if self.world.is_main:
            self.out_dir.mkdir(parents=True, exist_ok=True)
            self._trim_metrics()
        count = min(self.grid_size, len(self.dataset))  # type: ignore[arg-type]
        self._grid_images = collate_images([self.dataset[i] for i in range(count)])
        self._grid_latents = self.model.prior.sample(
            count, generator=torch.Generator().manual_seed(self.seed), device=self.device
        )
        self.model.train()

    def _step(self, batch: Tensor, phase: Phase) -> dict[str, float]:
        """One optimisation step of the recipe on this rank's share of the next global batch."""
        self.ctx.phase, self.ctx.step, self.ctx.images_seen = phase, self.step, self.images_seen
        self.order.take(phase.batch_size)  # the trainer's copy of the position the loader is at
        losses = self._train_step(self._prepare(batch, phase))
        self.ema.update(self.model)
        self.step += 1
        self.images_seen += phase.batch_size
        return losses

    @property
    def wall_time_s(self) -> float:
        """Training time in seconds, summed over resumed runs."""
        running = time.perf_counter() - self._clock if self._clock is not None else 0.0
        return self._wall_time_before + running

    def _finished(self) -> bool:
        if self.steps is not None:
            return self.step >= self.steps
        return self.images_seen >= self.total_images  # type: ignore[operator]

    @contextlib.contextmanager
    def _batches(self) -> Iterator[Iterator[Tensor]]:
        sampler = ShardedBatches(self.order, self.schedule, self.images_seen, self.world.rank, self.world.size)
        loader = DataLoader(
            self.dataset,
            batch_sampler=sampler,
            num_workers=self.num_workers,
            collate_fn=collate_images,
            pin_memory=self.device.type == "cuda",
            # Its own generator: creating the iterator must not draw from the global RNG (exact resume).
            generator=torch.Generator().manual_seed(self.seed),
        )
        iterator = iter(loader)
        try:
            yield iterator
        finally:
            del iterator

    def _progress_bar(self) -> Any:
        from genae.progress import progress_bar

        by_images = self.total_images is not None
        return progress_bar(
            self.total_images if by_images else self.steps,
            desc="train",
            initial=self.images_seen if by_images else self.step,
            unit="img" if by_images else "step",
            enabled=self.progress and self.world.is_main,
            unit_scale=by_images,
        )

    def _start_phase(self, phase: Phase) -> None:
        for name, optimizer in self.optimizers.items():
            for group in optimizer.param_groups:
                group["lr"] = phase.lr * self.lr_multipliers[name] * group.get("lr_scale", 1.0)
        self.ctx.phase = phase
        self.recipe.on_phase_start(phase, self.ctx)

    def _prepare(self, images: Tensor, phase: Phase) -> Tensor:
        if tuple(images.shape[1:]) != self.model.image_shape:
            raise ValueError(
                f"dataset images have shape {tuple(images.shape[1:])}, the model needs {self.model.image_shape}; "
                "open the dataset at the model's resolution and channels"
            )
        return downsample(images.to(self.device, non_blocking=True), phase.resolution)

    def _train_step(self, images: Tensor) -> dict[str, float]:
        raw = self.recipe.train_step(images, self.ctx)
        if not isinstance(raw, dict) or not raw:
            raise TypeError(
                f"{type(self.recipe).__name__}.train_step must return a non-empty dict of loss terms, got {raw!r}"
            )
        losses = dist_utils.average_scalars({k: float(v) for k, v in raw.items()}, self.world, self.device)
        bad = [name for name, value in losses.items() if not math.isfinite(value)]
        if bad:
            last = (
                f"the last good checkpoint is {self.out_dir / CHECKPOINT_NAME} (step {self._last_checkpoint_step})"
                if self._last_checkpoint_step is not None
                else "no checkpoint was written yet"
            )
            raise TrainingDiverged(
                f"loss term {bad[0]!r} is {losses[bad[0]]} at step {self.step + 1} "
                f"(images seen {self.images_seen}, all terms {losses}); training stopped without saving; {last}"
            )
        return losses

    # -- outputs ------------------------------------------------------------------------------------
    def _log(self, phase: Phase) -> dict[str, Any]:
        now, window = time.perf_counter(), self._window
        record = {
            "step": self.step,
            "images_seen": self.images_seen,
            "epoch": self.order.epoch,
            "phase": phase.index,
            "resolution": phase.resolution,
            "alpha": phase.alpha,
            "lr": phase.lr,
            "losses": window.means(),
            "images_per_s": (self.images_seen - window.images) / max(now - window.start, 1e-9),
            "wall_time_s": self.wall_time_s,
        }
        if self.world.is_main:
            append_text(self.out_dir / METRICS_NAME, json.dumps(record) + "\n")
            if self._tensorboard_class is not None:
                self._log_tensorboard(record)
        return record

    def _log_tensorboard(self, record: dict[str, Any]) -> None:
        """The log line as scalars; a resumed run first drops the events written after its checkpoint."""
        if self._tensorboard is None:
            self._tensorboard = self._tensorboard_class(  # type: ignore[misc]
                log_dir=str(self.out_dir / TENSORBOARD_DIR), purge_step=self.step
            )
        for name, value in record["losses"].items():
            self._tensorboard.add_scalar(f"loss/{name}", value, self.step)
        for name in ("lr", "images_per_s", "resolution", "alpha"):
            self._tensorboard.add_scalar(name, record[name], self.step)

    def _trim_metrics(self) -> None:
        """Drop log lines past the restored step (written after the checkpoint by an interrupted run)."""
        path = self.out_dir / METRICS_NAME
        if not path.exists():
            return
        if self.step == 0:
            path.unlink()
            return
        kept = [record for record in read_jsonl(path) if record.get("step", 0) <= self.step]
        write_text_atomic(path, "".join(json.dumps(record) + "\n" for record in kept))

    @contextlib.contextmanager
    def evaluating(self) -> Iterator[GenerativeAutoencoder]:
        """The model in eval mode with EMA weights, without touching any random stream of training."""
        devices = [self.device.index or 0] if self.device.type == "cuda" else []
        was_training = self.model.training
        with torch.random.fork_rng(devices=devices), torch.no_grad(), self.ema.swapped(self.model):
            self.model.eval()
            try:
                yield self.model
            finally:
                self.model.train(was_training)

    def save_grid(self, phase: Phase) -> Path | None:
        """Rows from ``recipe.preview``: the fixed real batch, its reconstructions, fixed prior samples."""
        if not self.world.is_main:
            return None
        from genae.viz import save_image_grid

        with self.evaluating():
            real = downsample(self._grid_images.to(self.device), phase.resolution)
            rows = self.recipe.preview(real, self._grid_latents, phase)
        size = max(row.shape[-1] for row in rows)
        rows = [torch.nn.functional.interpolate(r.float(), size=(size, size), mode="nearest") for r in rows]
        path = self.out_dir / GRIDS_DIR / f"step{self.step:08d}.png"
        return save_image_grid(torch.cat(rows).cpu(), path, nrow=real.shape[0], scale=max(1, 64 // size))

    def state_dict(self) -> dict[str, Any]:
        """Everything an exact resume needs, on this rank (RNG states are gathered separately)."""
        return {
            "step": self.step,
            "images_seen": self.images_seen,
            "wall_time_s": self.wall_time_s,
            "seed": self.seed,
            "world_size": self.world.size,
            "architecture": self.model.architecture,
            "model_config": self.model.config.to_dict(),
            "model": self.model.state_dict(),
            "optimizers": {n: o.state_dict() for n, o in self.optimizers.items()},
            "scalers": {n: s.state_dict() for n, s in self.scalers.items()},
            "ema": self.ema.state_dict(),
            "recipe": self.recipe.state_dict(),
            "recipe_modules": {n: m.state_dict() for n, m in self.recipe_modules.items()},
            "data_order": self.order.state_dict(),
            "log_window": {"sums": dict(self._window.sums), "count": self._window.count},
        }

    def save_checkpoint(self) -> Path | None:
        """Collective under DDP (buffers averaged, every rank's RNG state gathered); rank 0 writes."""
        for module in (self.model, *self.recipe_modules.values()):
            dist_utils.average_buffers(module, self.world)
        rngs = dist_utils.gather_objects(rng_state(self.generator), self.world)
        path = None
        if self.world.is_main:
            path = save_checkpoint({**self.state_dict(), "rng": rngs}, self.out_dir)
        self._last_checkpoint_step = self.step
        dist_utils.barrier(self.world)
        return path

    def _restore(self, source: Path, state: dict[str, Any]) -> None:
        """Load every entry of the checkpoint file ``source``; one that does not fit this run is named."""
        if state["architecture"] != self.model.architecture or state["model_config"] != self.model.config.to_dict():
            raise ValueError(
                f"the checkpoint in {self.out_dir} is for {state['architecture']} with config "
                f"{state['model_config']}, not {self.model.architecture} with {self.model.config.to_dict()}"
            )
        with _entry(source, "model"):
            _load_module(self.model, state["model"])
        with _entry(source, "optimizers"):
            if set(state["optimizers"]) != set(self.optimizers):
                raise ValueError(f"it has optimisers {sorted(state['optimizers'])}, the recipe built {sorted(self.optimizers)}")
            for name, optimizer in self.optimizers.items():
                optimizer.load_state_dict(state["optimizers"][name])
        with _entry(source, "scalers"):
            for name, scaler in self.scalers.items():
                scaler.load_state_dict(state["scalers"][name])
        self._prefer_multi_tensor()
        with _entry(source, "ema"):
            self.ema.load_state_dict(state["ema"])
        with _entry(source, "recipe"):
            self.recipe.load_state_dict(state["recipe"])
        with _entry(source, "recipe_modules"):
            for name, module in self.recipe_modules.items():
                _load_module(module, state["recipe_modules"][name])
        with _entry(source, "data_order"):
            self.order.load_state_dict(state["data_order"])
        with _entry(source, "log_window"):
            self._window.sums = {str(k): float(v) for k, v in state["log_window"]["sums"].items()}
            self._window.count = int(state["log_window"]["count"])
        for key in ("step", "images_seen", "wall_time_s"):
            with _entry(source, key):
                if isinstance(state[key], bool) or not isinstance(state[key], (int, float)) or state[key] < 0:
                    raise ValueError(f"expected a non-negative number, got {state[key]!r}")
        self.step, self.images_seen = int(state["step"]), int(state["images_seen"])
        self._wall_time_before = float(state["wall_time_s"])
        self._last_checkpoint_step = self.step
        with _entry(source, "rng"):
            if len(state["rng"]) == self.world.size:
                set_rng_state(state["rng"][self.world.rank], self.generator)
            else:
                warnings.warn(
                    f"the checkpoint was written by {len(state['rng'])} processes, this run has {self.world.size}: "
                    "random streams restart from the seed, so the run will not repeat the original exactly",
                    RuntimeWarning,
                    stacklevel=3,
                )

    def export(self) -> Path:
        """Write ``out_dir/model`` with EMA weights applied and a card saying how the model was trained: the data
        by name and content hash (``save_pretrained`` cuts local paths) and the hyperparameters in effect."""
        description = getattr(self.dataset, "description", None) or (
            f"{type(self.dataset).__name__} ({len(self.dataset)} images)"  # type: ignore[arg-type]
        )
        recipe_name = f"{type(self.recipe).__module__}:{type(self.recipe).__qualname__}"
        card = {
            "dataset": description,
            "training": (
                f"{self.images_seen:,} images ({self.step:,} steps) with recipe {recipe_name}, seed {self.seed}, "
                f"{self.world.size} process(es) on {self.device.type} ({self.precision}), {self.wall_time_s:.0f} s wall time"
            ),
            "images_seen": self.images_seen,
            "steps": self.step,
            "wall_time_s": round(self.wall_time_s, 3),
            "recipe": recipe_name,
            "recipe_options": self.recipe.options,
            "hyperparameters": self.hyperparameters(),
        }
        if callable(getattr(self.dataset, "content_hash", None)):
            card["dataset_hash"] = self.dataset.content_hash()  # type: ignore[attr-defined]
        with self.ema.swapped(self.model):
            return self.model.save_pretrained(self.out_dir / MODEL_DIR, card=card)

    def hyperparameters(self) -> dict[str, Any]:
        """What the run actually used, after the Trainer's overrides (``batch_size``/``lr`` win over the recipe's)."""
        sizes = self.schedule.batch_sizes
        return {
            "batch_size": next(iter(sizes.values())) if len(set(sizes.values())) == 1 else
            {str(r): b for r, b in sizes.items()},
            "schedule": repr(self.schedule),
            "seed": self.seed,
            "precision": self.precision,
            "grad_clip": self.grad_clip,
            "processes": self.world.size,
        }


def _load_module(module: torch.nn.Module, state: Any) -> None:
    """``load_state_dict`` after a one-line check of names and shapes (PyTorch's own error is many lines)."""
    mismatch = state_mismatch(module.state_dict(), state)
    if mismatch:
        raise ValueError(mismatch)
    module.load_state_dict(state)


@contextlib.contextmanager
def _entry(source: Path, name: str) -> Iterator[None]:
    """Name the checkpoint file and entry when restoring that entry fails (a damaged or foreign file)."""
    try:
        yield
    except (KeyError, IndexError, TypeError, ValueError, AttributeError, RuntimeError) as error:
        raise CheckpointError(
            f"{source}: entry {name!r} does not fit this run ({type(error).__name__}: {first_line(error)}); "
            "delete or move that file to resume from an older checkpoint"
        ) from error


def _summary_writer_class() -> Any:
    """TensorBoard's writer; its package is optional, so its absence is one line saying what to install."""
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError as error:
        raise ImportError("tensorboard=True needs the tensorboard package: pip install 'genae[tensorboard]'") from error
    return SummaryWriter


class _Window:
    """Loss sums and throughput since the last log line."""

    def __init__(self, start: float, images: int) -> None:
        self.start, self.images = start, images
        self.sums: dict[str, float] = {}
        self.count = 0

    def restart(self, start: float, images: int) -> None:
        """Restart the throughput clock, keeping the loss sums (a resumed run's first window)."""
        self.start, self.images = start, images

    def add(self, losses: dict[str, float]) -> None:
        for name, value in losses.items():
            self.sums[name] = self.sums.get(name, 0.0) + value
        self.count += 1

    def means(self) -> dict[str, float]:
        return {name: total / self.count for name, total in self.sums.items()}


def _postfix(record: dict[str, Any]) -> str:
    terms = " ".join(f"{k}={v:.4g}" for k, v in record["losses"].items())
    return f"{terms} {record['images_per_s']:.0f} img/s res={record['resolution']} a={record['alpha']:.2f}"
