"""``check_recipe``: a training recipe's bugs in seconds, before ``genae train`` spends hours on them.

It runs the recipe's own steps, a couple per phase of its schedule, on tiny random images with a
:class:`~genae.testing.step.DirectStep` that records what each ``ctx.optimize`` did, and checks what the
Trainer relies on (see ``RECIPE_CONTRACTS``): loss terms that are finite numbers, an optimiser and a non-zero
gradient for every trainable parameter of the modules the steps run (a module that never runs, such as a lower
resolution's ``to_rgb`` at full resolution or a network of another training stage, is not the recipe's to
train), and a ``state_dict`` that survives
a checkpoint (``torch.save`` + ``torch.load(weights_only=True)``). The model trains for those few steps.
"""

from __future__ import annotations

import dataclasses
import io
import json
import math
from collections.abc import Mapping
from typing import Any

import torch

from genae.interfaces import GenerativeAutoencoder
from genae.testing import CheckReport, ConformanceError, _require, _Skip, run_checks
from genae.testing.step import DirectStep
from genae.training.recipe import Phase, Recipe
from genae.training.schedule import SingleResolution
from genae.training.trainer import downsample

__all__ = ["RECIPE_CONTRACTS", "check_recipe"]

#: The contract each recipe check verifies, quoted in its failure message.
RECIPE_CONTRACTS = {
    "options_json": "Recipe.options are JSON-representable (the run's card and checkpoint record them)",
    "optimizers": "build_optimizers returns named torch optimisers; lr_multipliers and ema_modules name only what "
                  "exists",
    "steps_run": "train_step runs on a batch at every phase of the schedule and calls ctx.optimize",
    "loss_terms": "train_step returns a non-empty dict of loss terms: names mapped to numbers",
    "finite": "loss terms, optimised losses and gradients are finite",
    "parameters_train": "every trainable parameter of a module the steps run is held by an optimiser and "
                        "receives a non-zero gradient",
    "state_dict_round_trip": "state_dict survives torch.save/torch.load(weights_only=True) and load_state_dict "
                             "into a fresh recipe",
}
PROBES = 64  # points of a finite schedule probed for its distinct phases (each stable and fading one)


class _RecordingStep(DirectStep):
    """DirectStep that notes, per ``optimize`` call, which parameters got a non-zero gradient and any non-finite
    loss or gradient."""

    def __init__(self, optimizers: dict[str, torch.optim.Optimizer], phase: Phase, seed: int) -> None:
        super().__init__(optimizers, phase, seed=seed)
        self.calls, self.reached, self.non_finite = 0, set(), []

    def optimize(self, optimizer: str, loss: torch.Tensor) -> None:
        if optimizer not in self.optimizers:
            raise KeyError(f"optimize: no optimiser {optimizer!r}; the recipe built {sorted(self.optimizers)}")
        if not bool(torch.isfinite(loss.detach()).all()):
            self.non_finite.append(f"the loss given to optimiser {optimizer!r} at step {self.step}")
        super().optimize(optimizer, loss)
        self.calls += 1
        for group in self.optimizers[optimizer].param_groups:
            for parameter in group["params"]:
                if parameter.grad is None:
                    continue
                if not bool(torch.isfinite(parameter.grad).all()):
                    self.non_finite.append(f"a gradient of optimiser {optimizer!r} at step {self.step}")
                if bool(parameter.grad.ne(0).any()):
                    self.reached.add(id(parameter))


def check_recipe(
    recipe_or_name: Recipe | str,
    *,
    options: Mapping[str, Any] | None = None,
    model_overrides: Mapping[str, Any] | None = None,
    steps: int = 2,
    batch_size: int = 4,
    seed: int = 0,
    raise_on_failure: bool = True,
) -> CheckReport:
    """Run ``steps`` steps per schedule phase of a recipe on random images and check ``RECIPE_CONTRACTS``.

    ``recipe_or_name`` is a recipe built on a model (``MyRecipe(genae.create("my-ae"))``) or a registered
    architecture name, whose recipe is built with ``options`` on ``genae.create(name, **model_overrides)`` (keep
    the model small: this runs on the CPU). Raises :class:`ConformanceError` listing every failed check.
    """
    recipe = _recipe(recipe_or_name, options, model_overrides)
    for name, value in (("steps", steps), ("batch_size", batch_size)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"{name}: expected a positive int, got {value!r}")
    run = _RecipeRun(recipe, steps, batch_size, seed)
    checks = [(name, getattr(run, name)) for name in RECIPE_CONTRACTS]
    report = run_checks(checks, CheckReport(contracts=RECIPE_CONTRACTS))
    if report.failed and raise_on_failure:
        raise ConformanceError(f"recipe {type(recipe).__name__} failed its checks:\n{report}")
    return report


def _recipe(recipe_or_name: Recipe | str, options: Mapping[str, Any] | None,
            model_overrides: Mapping[str, Any] | None) -> Recipe:
    if isinstance(recipe_or_name, Recipe):
        if options is not None or model_overrides is not None:
            raise ValueError("options and model_overrides apply to a recipe given by name; this recipe is built")
        if not isinstance(recipe_or_name.model, GenerativeAutoencoder):
            raise TypeError(f"recipe.model: expected a GenerativeAutoencoder, got {type(recipe_or_name.model).__name__}")
        return recipe_or_name
    if not isinstance(recipe_or_name, str):
        raise TypeError(f"recipe_or_name: expected a genae.training.Recipe or a registered architecture name, got "
                        f"{type(recipe_or_name).__name__}")
    from genae.factory import create
    from genae.registry import REGISTRY, import_object

    spec = REGISTRY.model_spec(recipe_or_name)
    if spec.recipe is None:
        raise ValueError(f"recipe_or_name: model {spec.name!r} declares no training recipe")
    return import_object(spec.recipe)(create(spec.qualified_name, **dict(model_overrides or {})),
                                      **dict(options or {}))


class _RecipeRun:
    """The checks, in order: each later one reads what the steps recorded (and skips if they never ran)."""

    def __init__(self, recipe: Recipe, steps: int, batch_size: int, seed: int) -> None:
        self.recipe, self.steps, self.batch_size, self.seed = recipe, steps, batch_size, seed
        self.built: dict[str, torch.optim.Optimizer] | None = None
        self.ctx: _RecordingStep | None = None
        self.losses: list[dict[str, Any]] = []
        self.ran: set[int] = set()  # ids of the modules whose forward ran during the steps

    def _modules(self) -> list[torch.nn.Module]:
        return [*self.recipe.model.modules(), *(m for o in self.recipe.owned_modules().values() for m in o.modules())]

    def _parameters(self) -> dict[int, tuple[str, torch.nn.Parameter]]:
        """Trainable parameters by id, named as the model (``recipe.<module>.`` for owned modules) names them."""
        named = dict(self.recipe.model.named_parameters())
        for module_name, module in self.recipe.owned_modules().items():
            named.update({f"recipe.{module_name}.{k}": v for k, v in module.named_parameters()})
        return {id(p): (name, p) for name, p in named.items() if p.requires_grad}

    def options_json(self) -> None:
        try:
            json.dumps(self.recipe.options)
        except (TypeError, ValueError) as error:
            _require(False, f"{type(self.recipe).__name__}.options {self.recipe.options!r} are not JSON: {error}")

    def optimizers(self) -> None:
        built = self.recipe.build_optimizers()
        name = type(self.recipe).__name__
        _require(isinstance(built, dict) and built and all(
            isinstance(k, str) and isinstance(v, torch.optim.Optimizer) for k, v in built.items()),
            f"{name}.build_optimizers must return a non-empty dict of named torch optimisers, got {built!r}")
        self.built = built
        unknown = sorted(set(self.recipe.lr_multipliers()) - set(built))
        _require(not unknown, f"{name}.lr_multipliers names unknown optimisers {unknown}; built {sorted(built)}")
        modules = dict(self.recipe.model.named_modules())
        for module, decay in self.recipe.ema_modules().items():
            _require(module in modules, f"{name}.ema_modules names {module!r}, which is not a submodule of the model")
            _require(isinstance(decay, float) and 0 <= decay < 1,
                     f"{name}.ema_modules gives {module!r} decay {decay!r}; expected a float in [0, 1)")

    def steps_run(self) -> None:
        if self.built is None:
            raise _Skip("no optimisers were built")
        model, generator = self.recipe.model, torch.Generator().manual_seed(self.seed)
        model.train()
        hooks = [m.register_forward_hook(lambda module, *_: self.ran.add(id(module))) for m in self._modules()]
        try:
            self._steps(model, generator)
        finally:
            for hook in hooks:
                hook.remove()

    def _steps(self, model: GenerativeAutoencoder, generator: torch.Generator) -> None:
        phases = _phases(self.recipe, self.batch_size)
        self.ctx = ctx = _RecordingStep(self.built, phases[0], self.seed)  # one run: records accumulate
        for phase in phases:
            ctx.phase = phase
            self.recipe.on_phase_start(phase, ctx)
            for _ in range(self.steps):
                images = torch.rand(self.batch_size, *model.image_shape, generator=generator) * 2 - 1
                calls = ctx.calls
                self.losses.append(self.recipe.train_step(downsample(images, phase.resolution), ctx))
                _require(ctx.calls > calls, f"{type(self.recipe).__name__}.train_step at {phase.resolution}px "
                                            "never called ctx.optimize, so it trains nothing")
                ctx.step += 1
                ctx.images_seen += self.batch_size

    def loss_terms(self) -> None:
        if not self.losses:
            raise _Skip("no step ran")
        name = type(self.recipe).__name__
        for index, losses in enumerate(self.losses):
            _require(isinstance(losses, dict) and losses,
                     f"{name}.train_step must return a non-empty dict of loss terms, got {losses!r} at step {index}")
            bad = {k: type(v).__name__ for k, v in losses.items() if not _is_number(v)}
            _require(not bad, f"{name}.train_step returned loss terms that are not numbers: {bad} at step {index}")
            _require(all(isinstance(k, str) for k in losses),
                     f"{name}.train_step must name its loss terms with strings, got {sorted(map(repr, losses))}")

    def finite(self) -> None:
        if self.ctx is None:
            raise _Skip("no step ran")
        bad = [f"{k}={float(v)} at step {i}" for i, losses in enumerate(self.losses) if isinstance(losses, dict)
               for k, v in losses.items() if _is_number(v) and not math.isfinite(float(v))]
        _require(not bad and not self.ctx.non_finite,
                 f"{type(self.recipe).__name__} produced non-finite values: {_some(bad + self.ctx.non_finite)}")

    def parameters_train(self) -> None:
        if self.ctx is None or self.built is None:
            raise _Skip("no step ran")
        # Parameters of a module that never ran (a lower resolution's to_rgb at full resolution, another stage's
        # network) are not the recipe's to train; those of a module that ran are.
        ran = {id(p) for m in self._modules() if id(m) in self.ran for p in m.parameters(recurse=False)}
        held = {id(p) for o in self.built.values() for g in o.param_groups for p in g["params"]}
        used = {i: n for i, (n, _) in self._parameters().items() if i in ran}
        orphans = sorted(n for i, n in used.items() if i not in held)
        never = sorted(n for i, n in used.items() if i in held and i not in self.ctx.reached)
        name = type(self.recipe).__name__
        _require(not orphans, f"{len(orphans)} trainable parameter(s) of modules the steps run are in no optimiser of "
                              f"{name}.build_optimizers, so they never train: {_some(orphans)} (freeze them with "
                              "requires_grad_(False) if that is meant)")
        _require(not never, f"{len(never)} parameter(s) never received a gradient in {self.ctx.step} step(s): "
                            f"{_some(never)} (a detached path or a loss term left out of the optimised sum)")

    def state_dict_round_trip(self) -> None:
        name = type(self.recipe).__name__
        state = self.recipe.state_dict()
        _require(isinstance(state, dict), f"{name}.state_dict must return a dict, got {type(state).__name__}")
        buffer = io.BytesIO()
        torch.save(state, buffer)
        buffer.seek(0)
        try:
            loaded = torch.load(buffer, weights_only=True)
        except Exception as error:  # noqa: BLE001 - what a checkpoint cannot hold is the finding
            _require(False, f"{name}.state_dict holds objects a checkpoint cannot load with weights_only=True "
                            f"(keep to tensors and plain containers): {str(error).splitlines()[0]}")
        fresh = type(self.recipe)(self.recipe.model, **self.recipe.options)
        fresh.load_state_dict(loaded)
        _require(_same(fresh.state_dict(), state), f"{name}.load_state_dict(state_dict()) into a fresh "
                                                   f"{name} does not restore the same state_dict")


def _phases(recipe: Recipe, batch_size: int) -> list[Phase]:
    """Each distinct (phase, fading) of the recipe's schedule, with ``batch_size`` images."""
    schedule = recipe.schedule() or SingleResolution(recipe.model.resolution, batch_size, 1e-3)
    total = schedule.total_images
    probes = [0] if total is None else [total * k // PROBES for k in range(PROBES)]
    phases: dict[tuple[int, bool], Phase] = {}
    for images_seen in probes:
        phase = schedule.phase_at(images_seen)
        phases.setdefault((phase.index, phase.fading), dataclasses.replace(phase, batch_size=batch_size))
    return list(phases.values())


def _is_number(value: Any) -> bool:
    if isinstance(value, torch.Tensor):
        return value.numel() == 1
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, torch.Tensor) or isinstance(b, torch.Tensor):
        return isinstance(a, torch.Tensor) and isinstance(b, torch.Tensor) and a.shape == b.shape and bool(
            torch.equal(a, b))
    if isinstance(a, Mapping):
        return isinstance(b, Mapping) and a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, (list, tuple)):
        return isinstance(b, (list, tuple)) and len(a) == len(b) and all(map(_same, a, b))
    return a == b


def _some(names: list[str], limit: int = 5) -> str:
    more = f" and {len(names) - limit} more" if len(names) > limit else ""
    return ", ".join(names[:limit]) + more
