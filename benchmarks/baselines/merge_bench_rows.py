"""Replace some models' rows of a committed ``genae bench`` report with the rows of a newer bench run.

Retraining one model should not mean re-running a whole table (hours for N = 10,000 on this CPU), yet the
table must stay one consistent document. This script takes the newer run's records for the named models,
puts them in place of the old ones (keeping the old row's ``model`` label and order), rewrites the report's
``.json``, ``.md`` and (where kept) ``.csv`` with genae's own report writer, and states in the Markdown which rows came
from which run. Text after the generated part of the old Markdown (a hand-written note starting with
``## ``) is kept.

    python benchmarks/baselines/merge_bench_rows.py --report benchmarks/results/baselines-bench \\
        --new runs/pioneer-bench-1k/results.json --models pioneer
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from genae.bench.report import csv_text, markdown, results_document
from genae.io import write_text_atomic


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--report", required=True, type=Path, help="report path without suffix (.json/.csv/.md)")
    parser.add_argument("--new", required=True, type=Path, help="results.json of the newer bench run")
    parser.add_argument("--models", required=True, help="comma-separated model names (as in the newer run)")
    return parser.parse_args(argv)


def _key(record: dict[str, Any]) -> str:
    return record.get("resolved") or record["model"]


def merge(old: dict[str, Any], new: dict[str, Any], models: list[str]) -> tuple[list[dict[str, Any]], list[str]]:
    """The old records with those of ``models`` replaced by the newer run's; the labels of the replaced rows."""
    fresh = {_key(r): r for r in new["models"] if r["model"] in models or _key(r) in models}
    missing = sorted(set(models) - {r["model"] for r in fresh.values()} - set(fresh))
    if missing:
        raise ValueError(f"--models: {missing} not in the newer run's results")
    records, replaced = [], []
    for record in old["models"]:
        if _key(record) in fresh:
            records.append({**fresh.pop(_key(record)), "model": record["model"]})
            replaced.append(record["model"])
        else:
            records.append(record)
    if fresh:
        raise ValueError(f"--models: {sorted(fresh)} have no row in the report to replace")
    return records, replaced


def provenance(meta: dict[str, Any]) -> str:
    """One sentence per merge recorded in ``meta["merged"]`` (oldest first), then the original run's."""
    merges = [
        f"The row(s) of {', '.join(m['rows'])} were re-run after retraining (bench started {m['started']}, commit "
        f"{m['git_commit']}, {m['torch_threads']} torch thread(s)) and merged into this report by `{m['command']}`."
        for m in meta["merged"]
    ]
    return " ".join(merges) + (
        f" The other rows are from the original run (started {meta['started']}, commit {meta['git_commit']}, "
        f"{meta['torch_threads']} torch thread(s)). Same data, N, seed, metrics and feature extractor (checked); "
        "speed columns compare only rows run with the same thread count. The JSON's `meta.merged` records each "
        "merged run."
    )


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    models = [m for m in args.models.split(",") if m]
    old = json.loads(args.report.with_suffix(".json").read_text())
    new = json.loads(args.new.read_text())
    for field in ("data", "split", "n", "seed", "metrics", "extractor"):
        if old["meta"][field] != new["meta"][field]:
            raise ValueError(f"--new: {field} is {new['meta'][field]!r}, the report's is {old['meta'][field]!r}")
    records, replaced = merge(old, new, models)
    command = "python benchmarks/baselines/merge_bench_rows.py " + " ".join(sys.argv[1:] if argv is None else argv)
    meta = {**old["meta"], "merged": [*old["meta"].get("merged", []), {
        "rows": replaced, **{k: new["meta"].get(k) for k in ("started", "git_commit", "torch_threads")},
        "source": str(args.new), "command": command,
    }]}
    old_md = args.report.with_suffix(".md").read_text()
    note = old_md[old_md.index("\n## "):] if "\n## " in old_md else ""
    generated = markdown(meta, records)
    first, rest = generated.split("\n", 1)
    text = f"{first}\n\n{provenance(meta)}\n{rest}".rstrip("\n") + "\n" + note
    write_text_atomic(args.report.with_suffix(".json"), json.dumps(results_document(meta, records), indent=2,
                                                                   default=str) + "\n")
    if args.report.with_suffix(".csv").is_file():  # not every committed report keeps its CSV
        write_text_atomic(args.report.with_suffix(".csv"), csv_text(records))
    write_text_atomic(args.report.with_suffix(".md"), text)
    print(f"replaced {replaced} in {args.report}.{{json,csv,md}}")


if __name__ == "__main__":
    main()
