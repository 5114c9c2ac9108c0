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
LIA_BUNDLED = "lia-fashion-mnist-32"
SAME = ("data", "split", "n", "seed", "extractor")
COLUMNS = ("fid", "kid", "swd", "mse", "psnr", "ssim", "mix-fid")  # headline figures: swd is the average


def values(model: dict[str, Any]) -> dict[str, float | None]:
    found = {f["name"]: f["value"] for f in model["figures"] if f.get("status") == "ok" and f.get("headline")}
    return {column: found.get(column) for column in COLUMNS}


def budget(name: str) -> tuple[int, float]:
    """Training images and wall seconds from the model card (LIA's card counts both stages)."""
    import genae

    card = genae.load(LIA_BUNDLED if name == "lia" else name).card
    return card["images_seen"], card["wall_time_s"]


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
    meta = new["meta"]
    lines = [
        "# LIA next to the bundled autoencoders (Fashion-MNIST test, prior samples and reconstructions)", "",
        f"LIA row: `genae bench` started {meta['started']}, commit {meta['git_commit']}, {meta['torch_threads']} "
        f"torch thread(s), N = {meta['n']}, seed {meta['seed']}, extractor {meta['extractor']}. Other rows: "
        f"`{payload['reference']}` (same data, split, N, seed and extractor; checked by "
        "`python benchmarks/lia/compare_bench.py --new runs/lia-bench/results.json`).", "",
        "| model | training images | training CPU s | " + " | ".join(COLUMNS) + " |",
        "|---|---|---|" + "---|" * len(COLUMNS),
    ]
    for name, row in sorted(rows.items(), key=lambda item: item[1]["fid"] or float("inf")):
        images, seconds = budget(name)
        row.update({"training_images": images, "training_s": round(seconds)})
        cells = ["" if row[c] is None else f"{row[c]:.4g}" for c in COLUMNS]
        lines.append(f"| {name} | {images:,} | {seconds:.0f} | " + " | ".join(cells) + " |")
    lines += ["", "Training CPU seconds are wall times on a shared 2-core CPU (1-2 threads), so they are rough. "
              "`lia` is `lia-fashion-mnist-32` (the bench resolved the architecture name); its budget is both "
              "stages (stage 1 GAN 80k images, stage 2 encoder 30k)."]
    write_text_atomic(RESULTS.with_suffix(".json"), json.dumps(payload, indent=2) + "\n")
    write_text_atomic(RESULTS.with_suffix(".md"), "\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
