"""Startup cost of the `genae` command and of `import genae`, against `python -c "import torch"` in the same run.

Each command runs in a fresh interpreter ``--repeat`` times, interleaved, and the median wall time is kept, so a
load spike on a shared machine hits every command alike. ``--baseline-tree DIR`` also times the same commands
with another checkout of genae first on ``PYTHONPATH`` (e.g. a ``git worktree`` of the commit before a change).

    python benchmarks/startup/measure.py --repeat 5 --out benchmarks/results/startup
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
# Run outside the checkout: `python -m` puts the working directory first on sys.path, ahead of PYTHONPATH.
NEUTRAL_DIR = tempfile.gettempdir()
COMMANDS = {
    "python -c 'import torch'": [sys.executable, "-c", "import torch"],
    "python -c 'import genae'": [sys.executable, "-c", "import genae"],
    "genae --help": [sys.executable, "-m", "genae.cli", "--help"],
    "genae list": [sys.executable, "-m", "genae.cli", "list"],
    "genae list --pretrained": [sys.executable, "-m", "genae.cli", "list", "--pretrained"],
    "genae info vae (builds the model: imports torch)": [sys.executable, "-m", "genae.cli", "info", "vae"],
}


def imports_torch(argv: list[str], env: dict[str, str]) -> bool:
    """Run the same command in-process after the fact's set-up and report whether torch got imported."""
    if argv[1] == "-m":
        body = (f"sys.argv = {[argv[2], *argv[3:]]!r}\n"
                f"try:\n    runpy.run_module({argv[2]!r}, run_name='__main__')\nexcept SystemExit:\n    pass\n")
    else:
        body = argv[2] + "\n"
    code = "import runpy, sys\n" + body + "print('TORCH', 'torch' in sys.modules)\n"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, cwd=NEUTRAL_DIR)
    return "TORCH True" in out.stdout


def time_once(argv: list[str], env: dict[str, str]) -> float:
    start = time.perf_counter()
    subprocess.run(argv, capture_output=True, env=env, check=False, cwd=NEUTRAL_DIR)
    return time.perf_counter() - start


def measure(repeat: int, env: dict[str, str]) -> dict[str, dict[str, float | bool]]:
    samples: dict[str, list[float]] = {name: [] for name in COMMANDS}
    for _ in range(repeat):
        for name, argv in COMMANDS.items():  # interleaved: load changes hit every command
            samples[name].append(time_once(argv, env))
    torch_median = statistics.median(samples["python -c 'import torch'"])
    return {name: {"median_s": round(statistics.median(times), 3), "min_s": round(min(times), 3),
                   "ratio_to_import_torch": round(statistics.median(times) / torch_median, 3),
                   "imports_torch": imports_torch(COMMANDS[name], env)}
            for name, times in samples.items()}


def machine() -> dict[str, object]:
    model = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                  if line.startswith("model name")), platform.processor())
    return {"cpu": model, "cpus": os.cpu_count(), "load_average_1_5_15": [round(x, 2) for x in os.getloadavg()],
            "python": platform.python_version(), "note": "shared machine: other engineers' jobs run concurrently"}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--baseline-tree", type=Path, help="another genae checkout to time the same way")
    parser.add_argument("--baseline-label", default="baseline")
    parser.add_argument("--out", type=Path, required=True, help="output path without extension (.json and .md)")
    args = parser.parse_args()
    if args.repeat < 1:
        parser.error("--repeat must be at least 1")
    env = dict(os.environ)
    commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=REPO, capture_output=True, text=True).stdout.strip()
    record = {"command": "python " + " ".join(sys.argv), "git_commit": commit, "machine": machine(),
              "repeat": args.repeat, "results": {"current": measure(args.repeat, env)}}
    if args.baseline_tree:
        base_env = {**env, "PYTHONPATH": str(args.baseline_tree.resolve())}
        record["results"][args.baseline_label] = measure(args.repeat, base_env)
    record["machine"]["load_average_after"] = [round(x, 2) for x in os.getloadavg()]
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.with_suffix(".json").write_text(json.dumps(record, indent=2) + "\n")
    args.out.with_suffix(".md").write_text(render(record))
    print(render(record))


def render(record: dict) -> str:
    m = record["machine"]
    lines = ["# Startup time of `genae`", "",
             f"Command: `{record['command']}`  ", f"git commit: `{record['git_commit']}`  ",
             f"Machine: {m['cpu']}, {m['cpus']} CPUs, Python {m['python']}; load average "
             f"{m['load_average_1_5_15']} before, {m['load_average_after']} after ({m['note']}).  ",
             f"Median wall time of {record['repeat']} fresh interpreters per command, interleaved; ratio = median / "
             "median of `python -c 'import torch'` in the same run.", ""]
    for label, results in record["results"].items():
        lines += [f"## {label}", "", "| command | median s | min s | ratio to import torch | imports torch |",
                  "|---|---|---|---|---|"]
        lines += [f"| `{name}` | {r['median_s']} | {r['min_s']} | {r['ratio_to_import_torch']} | "
                  f"{'yes' if r['imports_torch'] else 'no'} |" for name, r in results.items()]
        lines.append("")
    return "\n".join(lines)


if __name__ == "__main__":
    main()
