"""One command for a CUDA machine: genae's automodulator and bench speed, written to one Markdown + JSON file.

    bash benchmarks/gpu.sh                         # all sections, about 5-7 minutes on one modern GPU
    bash benchmarks/gpu.sh --budget-s 300 --no-compile --out /tmp/gpu

Sections, in order (each starts only while the time budget lasts; what was skipped is said in the report):

1. the automodulator, the authors' ``large`` architecture, at 64 and 256 px: one full training iteration
   (encoder step + decoder step of ``AutomodulatorRecipe`` at the final phase) and encode+decode, in fp32
   and, where the GPU has bf16 tensor cores, bf16 autocast. images/s, peak allocated memory, counted FLOPs
   (``FlopCounterMode``) and the share of the GPU's dense bf16 tensor-core peak that they reach;
2. ``torch.compile`` of encode+decode at 256 px against eager (compile time reported apart);
3. ``genae bench``'s FID of the bundled ``automodulator-fashion-mnist-32`` on 10,000 samples (needs the
   Fashion-MNIST test split; the report says so if it is missing);
4. with two or more GPUs, the Trainer under ``torchrun`` on 1 and 2 GPUs (DDP), large architecture at 64 px.

Installs nothing beyond the README's setup. Without CUDA it stops at once: exit status 2 and one line on
stderr. fp32 convolutions use TF32 where PyTorch's defaults allow it (recorded in the JSON).
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
#: Dense (no sparsity) bf16 tensor-core peaks in TFLOP/s, from NVIDIA's data sheets; first match wins.
BF16_PEAK_TFLOPS = (("H200", 989.0), ("GH200", 989.0), ("H100 PCIe", 756.0), ("H100 NVL", 835.0),
                    ("H100", 989.0), ("A100", 312.0), ("L40S", 362.0), ("L40", 181.0), ("L4", 121.0), ("A10", 125.0))
BATCH = {"train": {64: 32, 256: 16}, "encode_decode": {64: 64, 256: 32}}  # the paper's batches at 64/256 px
RESOLUTIONS = (64, 256)


def _load_speed() -> Any:
    spec = importlib.util.spec_from_file_location("automodulator_speed", REPO / "benchmarks/automodulator/speed.py")
    module = importlib.util.module_from_spec(spec)  # type: ignore[arg-type]
    spec.loader.exec_module(module)  # type: ignore[union-attr]
    return module


def require_cuda() -> None:
    """Stop at once, loudly, where there is no CUDA device: the point of this script is the GPU."""
    if not torch.cuda.is_available():
        built = torch.version.cuda or "no CUDA"
        print(f"gpu.sh: no CUDA device (torch {torch.__version__}, built with {built}, "
              f"CUDA_VISIBLE_DEVICES={os.environ.get('CUDA_VISIBLE_DEVICES', 'unset')}); nothing was measured",
              file=sys.stderr)
        sys.exit(2)


def bf16_peak_tflops(name: str, override: float | None) -> float | None:
    if override is not None:
        return override
    for key, peak in BF16_PEAK_TFLOPS:
        if key in name.replace("-", " "):
            return peak
    return None


def synchronize() -> None:
    torch.cuda.synchronize()


def measure(speed: Any, kind: str, resolution: int, precision: str, iterations: int,
            compiled: bool = False) -> dict[str, Any]:
    """One case: warm-up, one FLOP-counted call, then ``iterations`` timed calls with peak memory."""
    from torch.utils.flop_counter import FlopCounterMode

    batch = BATCH[kind][resolution]
    model, recipe, ctx, images = speed.build("large", precision, "cuda", resolution, batch)
    fn: Callable[[], Any]
    if kind == "train":
        def fn() -> None:
            recipe.train_step(images, ctx)
    else:
        model.eval()

        def work(x: torch.Tensor) -> torch.Tensor:
            return model.decode(model.encode(x))

        run = torch.compile(work) if compiled else work

        def fn() -> None:
            with torch.no_grad(), speed.autocast(precision, "cuda"):
                run(images)
    start = time.perf_counter()
    fn()
    synchronize()
    first_call_s = time.perf_counter() - start
    flops = None
    if not compiled:  # the compiled rows do the same work as the eager ones
        with FlopCounterMode(display=False) as counter:
            fn()
        flops = counter.get_total_flops()
    synchronize()
    torch.cuda.reset_peak_memory_stats()
    start = time.perf_counter()
    for _ in range(iterations):
        fn()
    synchronize()
    seconds = (time.perf_counter() - start) / iterations
    result = {"kind": kind, "resolution": resolution, "precision": precision, "batch": batch,
              "compiled": compiled, "iterations": iterations, "seconds_per_batch": seconds,
              "images_per_s": batch / seconds, "peak_allocated_gib": torch.cuda.max_memory_allocated() / 2**30,
              "first_call_s": first_call_s, "tflop_per_batch": None if flops is None else flops / 1e12}
    return result


def fid_10k(device: str) -> dict[str, Any]:
    from genae.bench.runner import run_bench

    start = time.perf_counter()
    records = run_bench("automodulator-fashion-mnist-32", data="fashion-mnist", metrics="fid", n=10000,
                        device=device, batch_size=256, progress=False)
    seconds = time.perf_counter() - start
    return {"seconds": seconds, "records": records}


def ddp_run(gpus: int, steps: int, timeout_s: float) -> dict[str, Any]:
    """The real Trainer under torchrun; images/s of the last log window (after the warm-up window)."""
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "result.json"
        command = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={gpus}",
                   str(Path(__file__)), "--ddp-worker", str(out), "--ddp-steps", str(steps)]
        done = subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=timeout_s)
        if done.returncode != 0:
            return {"gpus": gpus, "error": (done.stderr or done.stdout).strip().splitlines()[-1:]}
        return {"gpus": gpus, **json.loads(out.read_text())}


def ddp_worker(out: Path, steps: int, device: str = "cuda") -> None:
    """Rank body: large architecture at 64 px on random images, phases of two steps, then 64 px to the end."""
    import genae
    from genae.registry import REGISTRY, import_object
    from genae.training import Trainer

    batch = BATCH["train"][64] * int(os.environ.get("WORLD_SIZE", "1"))
    torch.manual_seed(0)
    model = genae.create("automodulator-paper", resolution=64, channels_in=3, latent_dim=512, channels="large")
    recipe = import_object(REGISTRY.model_spec("automodulator").recipe)(
        model, monitor_every=0, images_per_phase=2 * batch, fade_images=batch, batch_sizes=batch)
    data = torch.utils.data.TensorDataset(torch.rand(4 * batch, 3, 64, 64) * 2 - 1)
    with tempfile.TemporaryDirectory() as tmp:
        trainer = Trainer(model, recipe, data, out_dir=tmp, steps=steps, device=device, precision="auto",
                          log_every=steps // 2, grid_every=None, checkpoint_every=None, progress=False)
        trainer.fit()
        if trainer.world.is_main:
            last = json.loads((Path(tmp) / "metrics.jsonl").read_text().splitlines()[-1])
            out.write_text(json.dumps({"images_per_s": last["images_per_s"], "resolution": last["resolution"],
                                       "global_batch": batch, "precision": trainer.precision,
                                       "steps_in_window": steps - steps // 2}))


def report(results: dict[str, Any]) -> str:
    peak = results["bf16_peak_tflops"]
    lines = ["# genae on a GPU (`bash benchmarks/gpu.sh`)", "",
             f"Command: `{results['command']}`  ", f"Git commit: `{results['git_commit']}`  ",
             f"Device: {results['device']} (compute capability {results['capability']}), {results['gpus']} GPU(s), "
             f"torch {results['torch']}, CUDA {results['cuda']}; dense bf16 peak used for %: "
             f"{'unknown' if peak is None else f'{peak:.0f} TFLOP/s'}  ",
             f"bf16: {results['bf16_reason']}  ", f"Wall time: {results['wall_s']:.0f} s", "",
             "## Automodulator, large architecture (one training iteration = encoder step + decoder step)", "",
             "| measurement | px | precision | compiled | batch | images/s | s/batch | peak GiB | TFLOP/batch | "
             "TFLOP/s | of bf16 peak |", "|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in results["cases"]:
        rate = None if r["tflop_per_batch"] is None else r["tflop_per_batch"] / r["seconds_per_batch"]
        share = "" if rate is None or peak is None else f"{rate / peak:.1%}"
        work = "" if r["tflop_per_batch"] is None else f"{r['tflop_per_batch']:.2f}"
        lines.append(f"| {r['kind']} | {r['resolution']} | {r['precision']} | {r['compiled']} | {r['batch']} | "
                     f"{r['images_per_s']:.1f} | {r['seconds_per_batch']:.4f} | {r['peak_allocated_gib']:.2f} | "
                     f"{work} | {'' if rate is None else f'{rate:.1f}'} | {share} |")
    for name, value in results["sections"].items():
        lines += ["", f"## {name}", "", "```", json.dumps(value, indent=2, default=str), "```"]
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=REPO / "benchmarks/results/gpu", help="writes OUT.md, OUT.json")
    parser.add_argument("--budget-s", type=float, default=420.0, help="start no new section after this")
    parser.add_argument("--iterations", type=int, default=5)
    parser.add_argument("--no-compile", action="store_true")
    parser.add_argument("--peak-tflops", type=float, default=None, help="dense bf16 peak, if not in the table")
    parser.add_argument("--ddp-worker", type=Path, default=None, help=argparse.SUPPRESS)
    parser.add_argument("--ddp-steps", type=int, default=20, help=argparse.SUPPRESS)
    args = parser.parse_args()
    require_cuda()
    if args.ddp_worker is not None:
        ddp_worker(args.ddp_worker, args.ddp_steps)
        return
    sys.path.insert(0, str(REPO))
    from genae.io import write_text_atomic
    from genae.precision import bf16_support

    began = time.perf_counter()
    speed = _load_speed()
    name = torch.cuda.get_device_name()
    support = bf16_support("cuda")
    precisions = ["fp32", "bf16"] if support.native else ["fp32"]
    commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=REPO, capture_output=True, text=True).stdout.strip()
    results: dict[str, Any] = {
        "command": "bash benchmarks/gpu.sh " + " ".join(sys.argv[1:]), "git_commit": commit or "unknown",
        "device": name, "capability": ".".join(map(str, torch.cuda.get_device_capability())),
        "gpus": torch.cuda.device_count(), "torch": torch.__version__, "cuda": torch.version.cuda,
        "python": platform.python_version(), "bf16_reason": support.reason,
        "bf16_peak_tflops": bf16_peak_tflops(name, args.peak_tflops),
        "tf32": {"cudnn": torch.backends.cudnn.allow_tf32, "matmul": torch.backends.cuda.matmul.allow_tf32},
        "cases": [], "sections": {}, "skipped": [],
    }

    def time_left() -> bool:
        return time.perf_counter() - began < args.budget_s

    def section(title: str, fn: Callable[[], Any]) -> None:
        if not time_left():
            results["skipped"].append(f"{title}: time budget of {args.budget_s:.0f} s spent")
            return
        try:
            results["sections"][title] = fn()
        except Exception as error:  # one section failing must not lose the others' numbers
            results["sections"][title] = {"error": f"{type(error).__name__}: {error}"}
        print(f"{title}: done at {time.perf_counter() - began:.0f} s", file=sys.stderr, flush=True)

    for resolution in RESOLUTIONS:
        for kind in ("train", "encode_decode"):
            for precision in precisions:
                if not time_left():
                    results["skipped"].append(f"{kind} {resolution} px {precision}: time budget spent")
                    continue
                case = measure(speed, kind, resolution, precision, args.iterations)
                torch.cuda.empty_cache()  # the case's model and batch are gone with its frame
                results["cases"].append(case)
                print(json.dumps(case), file=sys.stderr, flush=True)
    def compiled_row() -> str:
        results["cases"].append(measure(speed, "encode_decode", 256, precisions[-1], args.iterations, True))
        return "a row of the table (compiled=True); its first_call_s includes the compilation"

    if not args.no_compile:
        section("torch.compile (encode+decode, 256 px)", compiled_row)
    section("FID of automodulator-fashion-mnist-32 on 10,000 samples", lambda: fid_10k("cuda"))
    if results["gpus"] >= 2:
        section("Trainer under torchrun, large at 64 px (1 vs 2 GPUs)",
                lambda: [ddp_run(gpus, args.ddp_steps, timeout_s=240) for gpus in (1, 2)])
    else:
        results["skipped"].append("DDP: one GPU only")
    results["sections"]["skipped"] = results["skipped"]
    results["wall_s"] = time.perf_counter() - began
    args.out.parent.mkdir(parents=True, exist_ok=True)
    write_text_atomic(args.out.with_suffix(".json"), json.dumps(results, indent=2, default=str) + "\n")
    write_text_atomic(args.out.with_suffix(".md"), report(results))
    print(report(results))


if __name__ == "__main__":
    main()
