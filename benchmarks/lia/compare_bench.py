"""Put LIA's ``genae bench`` row next to the committed autoencoder rows (same data, N, seed and extractor).

    genae bench --models lia --data fashion-mnist -n 10000 --seed 0 \\
        --metrics fid,kid,swd,mse,psnr,ssim,mix-fid,speed --out runs/lia-bench
    python benchmarks/lia/compare_bench.py --new runs/lia-bench/results.json

Refuses to compare runs whose data, split, N, seed or feature extractor differ. Writes
``benchmarks/results/lia-bench.{json,md}``; the claim it checks is the paper's (a): LIA's samples are GAN
samples, so their FID should beat the autoencoders' at a similar budget.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from genae.io import write_text_atomic

REPO = Path(__file__).resolve().parents[2]
REFERENCE = REPO / "benchmarks" / "results" / "bench-fashion-mnist.json"
RESULTS = REPO / "benchmarks" / "results" / "lia-bench"
SAME = ("data", "split", "n", "seed", "extractor")
COLUMNS = ("fid", "kid", "swd", "mse", "psnr", "ssim", "mix-fid")


def values(model: dict[str, Any]) -> dict[str, float | None]:
    found = {f["metric"]: f["value"] for f in model["figures"] if f.get("status") == "ok"}
    return {column: found.get(column) for column in COLUMNS}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--new", required=True, type=Path, help="results.json of the LIA bench run")
    parser.add_argument("--reference", type=Path, default=REFERENCE)
    args = parser.parse_args(argv)
    new, reference = json.loads(args.new.read_text()), json.loads(args.reference.read_text())
    for key in SAME:
        if new["meta"].get(key) != reference["meta"].get(key):
            raise SystemExit(f"{key}: the LIA run has {new['meta'].get(key)!r}, the reference "
                             f"{reference['meta'].get(key)!r}; rerun the bench with the reference's settings")
    rows = {m["model"]: values(m) for m in new["models"]}
    rows.update({m["model"]: values(m) for m in reference["models"]})
    payload = {"lia_run": new["meta"], "reference": str(args.reference.relative_to(REPO)),
               "reference_meta": reference["meta"], "rows": rows}
    write_text_atomic(RESULTS.with_suffix(".json"), json.dumps(payload, indent=2) + "\n")
    meta = new["meta"]
    lines = [
        "# LIA next to the bundled autoencoders (Fashion-MNIST test, prior samples and reconstructions)", "",
        f"LIA row: `genae bench` started {meta['started']}, commit {meta['git_commit']}, {meta['torch_threads']} "
        f"torch thread(s), N = {meta['n']}, seed {meta['seed']}, extractor {meta['extractor']}. Other rows: "
        f"`{payload['reference']}` (same data, split, N, seed and extractor; checked by "
        "`python benchmarks/lia/compare_bench.py --new runs/lia-bench/results.json`).", "",
        "| model | " + " | ".join(COLUMNS) + " |", "|---|" + "---|" * len(COLUMNS),
    ]
    for name, row in sorted(rows.items(), key=lambda item: item[1]["fid"] or float("inf")):
        cells = ["" if v is None else f"{v:.4g}" for v in row.values()]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    write_text_atomic(RESULTS.with_suffix(".md"), "\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
