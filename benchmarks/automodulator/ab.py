"""Interleaved A/B speed rounds in one process: does a change make the automodulator faster, and is it exact?

    python benchmarks/automodulator/ab.py layer-target --baseline 1a59642 --config large --rounds 3
    python benchmarks/automodulator/ab.py channels-last --config large --kind encode_decode --rounds 4
    python benchmarks/automodulator/ab.py compile --config small --kind encode_decode --rounds 4
    python benchmarks/automodulator/ab.py adain --config large --rounds 6

On a machine shared with other jobs absolute rates drift with their load. Here A and B alternate inside
one process (ABBA within each round, so a trend in load hits both equally) and every round reports its own
B/A time ratio; the load average is recorded at the start and the end. Variants:

- ``layer-target``: A is the ``AutomodulatorLosses`` of the ``--baseline`` commit (layer-loss target from a
  second partial decoder pass), B the working tree's (the main pass's intermediate). Both see the same
  random draws (same seed per round). Counted FLOPs per step are reported too: they do not depend on load.
- ``channels-last``: A runs the networks' feature maps in the standard format, B in ``channels_last``
  (``genae.nets.progressive.ACTIVATIONS_FORMAT``, the shipped setting since this comparison).
- ``compile``: B is ``torch.compile`` of the same work (compile time, in the first calls, reported apart);
  for ``--kind train`` the encoder blocks and styled convs are compiled in place.
- ``adain``: AdaIN forward+backward at every decoder layer's shape of the config; B computes
  ``x·g + (shift − mean·g)`` (one pass over x) instead of ``(x − mean)·g + shift`` (two).

Exactness: the largest absolute difference of B's output from A's on the same input (eval mode, no
noise) for the inference variants; for ``layer-target`` see ``tests/test_automodulator_step_work.py``.
Each run is appended to ``benchmarks/results/automodulator-speed.json`` under ``before_after`` (earlier
runs kept) and the Markdown is re-rendered.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import subprocess
import sys
import time
import types
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

from genae.bench.provenance import machine as provenance_machine

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]


def _load(name: str, path: Path) -> types.ModuleType:
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)  # type: ignore[arg-type]
    sys.modules[name] = module
    spec.loader.exec_module(module)  # type: ignore[union-attr]
    return module


speed = _load("automodulator_speed", HERE / "speed.py")


def baseline_losses(commit: str) -> type:
    """``AutomodulatorLosses`` as it was at ``commit`` (read from git, imported under another name)."""
    source = subprocess.run(["git", "show", f"{commit}:genae_plugins/automodulator/losses.py"], cwd=REPO,
                            capture_output=True, text=True, check=True).stdout
    module = types.ModuleType("baseline_automodulator_losses")
    sys.modules[module.__name__] = module  # dataclasses look their module up
    exec(compile(source, f"{commit}:losses.py", "exec"), module.__dict__)  # noqa: S102 - our own file, from git
    return module.AutomodulatorLosses


def cpu_flags() -> list[str]:
    from genae.precision import cpu_flags as flags

    return sorted(f for f in flags() if f.startswith(("avx", "amx", "fma", "sse4")))


def interleaved(a: Callable[[], Any], b: Callable[[], Any], rounds: int) -> list[dict[str, float]]:
    """ABBA per round; seconds of each variant (mean of its two runs) and the round's B/A ratio."""
    results = []
    for index in range(rounds):
        times: dict[str, list[float]] = {"a": [], "b": []}
        for name, fn in (("a", a), ("b", b), ("b", b), ("a", a)) if index % 2 == 0 else (
                ("b", b), ("a", a), ("a", a), ("b", b)):
            start = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - start)
        seconds_a, seconds_b = sum(times["a"]) / 2, sum(times["b"]) / 2
        results.append({"a_s": seconds_a, "b_s": seconds_b, "b_over_a_time": seconds_b / seconds_a})
        print(json.dumps({"round": index, **results[-1]}), flush=True)
    return results


def counted_gflop(fn: Callable[[], Any]) -> float:
    from torch.utils.flop_counter import FlopCounterMode

    with FlopCounterMode(display=False) as counter:
        fn()
    return counter.get_total_flops() / 1e9


def layer_target(config: str, rounds: int, baseline: str) -> dict[str, Any]:
    model, recipe, ctx, images = speed.build(config, "fp32")
    current, old = recipe.losses, baseline_losses(baseline)(model, recipe.weights, recipe.reconstruction,
                                                             recipe.losses.invariance_split)
    seeds = iter(range(10**6))

    def step_with(losses: Any) -> Callable[[], None]:
        def run() -> None:
            recipe.losses = losses
            ctx.generator = torch.Generator().manual_seed(next(seeds) // 2)  # A and B of a pair: same draws
            recipe.train_step(images, ctx)
        return run

    a, b = step_with(old), step_with(current)
    a(), b()  # warm-up
    gflop = {"a": counted_gflop(a), "b": counted_gflop(b)}
    return {"rounds": interleaved(a, b, rounds), "gflop_per_step": gflop,
            "a": f"AutomodulatorLosses at {baseline} (separate target pass)",
            "b": "working tree (target from the main pass)"}


def format_variant(config: str, kind: str, rounds: int) -> dict[str, Any]:
    """A: feature maps in the standard (contiguous) format; B: channels_last (the networks' setting)."""
    from genae.nets import progressive

    model, recipe, ctx, images = speed.build(config, "fp32")
    if kind == "encode_decode":
        model.eval()

    def with_format(memory_format: torch.memory_format) -> Callable[[], Any]:
        def run() -> Any:
            progressive.ACTIVATIONS_FORMAT = memory_format
            if kind == "train":
                return recipe.train_step(images, ctx)
            with torch.no_grad():
                return model.decode(model.encode(images))
        return run

    a, b = with_format(torch.contiguous_format), with_format(torch.channels_last)
    entry: dict[str, Any] = {"a": "feature maps contiguous", "b": "feature maps channels_last"}
    if kind == "encode_decode":
        entry["max_abs_difference"] = float((b() - a()).abs().max())
    a(), b()
    entry["rounds"] = interleaved(a, b, rounds)
    progressive.ACTIVATIONS_FORMAT = torch.channels_last
    return entry


def compile_train_variant(config: str, rounds: int) -> dict[str, Any]:
    """A: an eager training step; B: the same step with every encoder block and styled conv compiled in place.

    The whole model cannot be one graph: decoder noise comes from ``torch.Generator`` objects and the recipe
    branches in Python. B gets three warm-up steps so that each shape it meets (mixed and unmixed rows) is
    compiled before timing; the two sides train their own copies from the same seed.
    """
    from genae.nets.progressive import EncoderBlock, StyledConv

    _, recipe_a, ctx_a, images = speed.build(config, "fp32")
    model_b, recipe_b, ctx_b, _ = speed.build(config, "fp32")
    for module in model_b.modules():
        if isinstance(module, (EncoderBlock, StyledConv)):
            module.compile()
    start = time.perf_counter()
    for _ in range(3):
        recipe_b.train_step(images, ctx_b)
    compile_s = time.perf_counter() - start

    def a() -> None:
        recipe_a.train_step(images, ctx_a)

    def b() -> None:
        recipe_b.train_step(images, ctx_b)

    a()
    return {"rounds": interleaved(a, b, rounds), "a": "eager training step",
            "b": "encoder blocks and styled convs compiled", "compile_s": compile_s}


def compile_variant(config: str, kind: str, rounds: int) -> dict[str, Any]:
    if kind == "train":
        return compile_train_variant(config, rounds)
    model, _, _, images = speed.build(config, "fp32")
    model.eval()

    def plain(x: torch.Tensor) -> torch.Tensor:
        return model.decode(model.encode(x))

    compiled = torch.compile(plain)
    with torch.no_grad():
        start = time.perf_counter()
        compiled(images)
        compile_s = time.perf_counter() - start
        difference = float((compiled(images) - plain(images)).abs().max())
        a, b = (lambda: plain(images)), (lambda: compiled(images))
        a(), b()
        rounds_out = interleaved(a, b, rounds)
    return {"rounds": rounds_out, "max_abs_difference": difference, "a": "eager", "b": "torch.compile",
            "compile_s": compile_s}


def _adain_two_pass(adain: Any, x: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
    return adain(x, z)


def _adain_one_pass(adain: Any, x: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
    style = adain.affine(z)[:, :, None, None]
    scale, shift = style[:, : adain.channels], style[:, adain.channels:]
    var, mean = torch.var_mean(x, dim=(2, 3), keepdim=True, correction=1)
    gain = scale * torch.rsqrt(var.clamp_min(torch.finfo(var.dtype).tiny))
    return torch.addcmul(shift - mean * gain, x, gain)


def adain_variant(config: str, rounds: int) -> dict[str, Any]:
    model, _, _, _ = speed.build(config, "fp32")
    layers = [(conv.adain, block_index) for block_index, block in enumerate(model.decoder.blocks)
              for conv in block.convs]
    cases = []
    for adain, block_index in layers:
        side = 4 * 2 ** model.decoder.block_phases[block_index]
        x = torch.randn(speed.BATCH, adain.channels, side, side, requires_grad=True)
        cases.append((adain, x, torch.nn.functional.normalize(torch.randn(speed.BATCH, model.latent_dim), dim=1)))

    def run(fn: Callable[..., torch.Tensor]) -> Callable[[], None]:
        def go() -> None:
            for adain, x, z in cases:
                fn(adain, x, z).square().mean().backward()
        return go

    with torch.no_grad():
        difference = max(float((_adain_one_pass(a, x, z) - _adain_two_pass(a, x, z)).abs().max()) for a, x, z in cases)
    a, b = run(_adain_two_pass), run(_adain_one_pass)
    a(), b()
    return {"rounds": interleaved(a, b, rounds), "max_abs_difference": difference,
            "a": "(x - mean)·g + shift (shipped)", "b": "x·g + (shift - mean·g)"}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("experiment", choices=["layer-target", "channels-last", "compile", "adain"])
    parser.add_argument("--config", default="large", choices=sorted(speed.CONFIGS))
    parser.add_argument("--kind", default="train", choices=["train", "encode_decode"])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--baseline", default=None, help="git commit of the A side (layer-target)")
    parser.add_argument("--no-record", action="store_true", help="print only; do not update the results file")
    args = parser.parse_args()
    torch.set_num_threads(speed.THREADS)
    load_before = speed.load_snapshot()
    if args.experiment == "layer-target":
        if args.baseline is None or args.kind != "train":
            parser.error("layer-target: give --baseline COMMIT; it measures --kind train")
        entry = layer_target(args.config, args.rounds, args.baseline)
    elif args.experiment == "adain":
        entry = adain_variant(args.config, args.rounds)
    elif args.experiment == "channels-last":
        entry = format_variant(args.config, args.kind, args.rounds)
    else:
        entry = compile_variant(args.config, args.kind, args.rounds)
    machine = provenance_machine()
    entry = {"experiment": args.experiment, "config": args.config, "kind": args.kind, **entry,
             "threads": speed.THREADS, "load_before": load_before, "load_after": speed.load_snapshot(),
             "cpu": machine["cpu"], "cpu_flags": cpu_flags(), "git_commit": machine["git_commit"],
             "command": "python benchmarks/automodulator/ab.py " + " ".join(sys.argv[1:])}
    print(speed.ab_summary(entry))
    if args.no_record:
        return
    from genae.io import write_text_atomic

    path = speed.RESULTS / "automodulator-speed.json"
    results = json.loads(path.read_text()) if path.exists() else {}
    results.setdefault("before_after", []).append(entry)
    write_text_atomic(path, json.dumps(results, indent=2) + "\n")
    write_text_atomic(path.with_suffix(".md"), speed.report(results))


if __name__ == "__main__":
    main()
