"""results.json, results.csv and results.md from benchmark records."""

from __future__ import annotations

import csv
import io
import json
import math
from pathlib import Path
from typing import Any

from genae.io import write_text_atomic

SCHEMA = "genae-bench/1"
#: Figures whose ± is printed in the table (its meaning is in each figure's ``std_is`` setting).
WITH_SPREAD = ("kid", "is")
#: Settings that go on their own glossary lines rather than into each figure's details.
_SHARED_SETTINGS = ("real_set", "real_features_file")
#: A feature extractor's description: one glossary line per extractor instead of one copy per figure.
_EXTRACTOR_SETTINGS = ("extractor", "feature_dim", "weights_file", "weights_sha256", "random_init", "input_rule")
CSV_COLUMNS = ("model", "resolved", "metric", "name", "label", "value", "std", "n", "status", "reason", "settings")


def format_value(value: float | None, std: float | None = None) -> str:
    if value is None:
        return ""
    if math.isinf(value):
        return "inf"
    magnitude = abs(value)
    text = f"{value:.3e}" if 0 < magnitude < 1e-3 else f"{value:.4g}" if magnitude < 1e4 else f"{value:.0f}"
    return text if std is None else f"{text} ± {format_value(std)}"


def results_document(meta: dict[str, Any], records: list[dict[str, Any]]) -> dict[str, Any]:
    return {"schema": SCHEMA, "meta": meta, "models": records}


def csv_text(records: list[dict[str, Any]]) -> str:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=CSV_COLUMNS, lineterminator="\n")
    writer.writeheader()
    for record in records:
        if record["status"] != "ok" and not record["figures"]:
            writer.writerow({"model": record["model"], "status": record["status"], "reason": record.get("error")})
        for fig in record["figures"]:
            row = {key: fig.get(key) for key in CSV_COLUMNS if key in fig}
            row.update(model=record["model"], resolved=record.get("resolved", ""),
                       settings=json.dumps(fig["settings"], sort_keys=True, default=str))
            writer.writerow(row)
    return buffer.getvalue()


def markdown(meta: dict[str, Any], records: list[dict[str, Any]]) -> str:
    """A headline table (one row per model), failures and n/a reasons, then every figure's details."""
    columns: list[str] = []
    for record in records:
        for fig in record["figures"]:
            if fig["headline"] and fig["status"] == "ok" and fig["label"] not in columns:
                columns.append(fig["label"])
    lines = [
        f"Benchmark on **{meta['data']}** ({meta['split']} split), N = {meta['n']}, seed {meta['seed']}, "
        f"device {meta['device']}, genae {meta['genae_version']} (commit {meta.get('git_commit') or 'unknown'}).",
        "",
        metric_set_line(meta),
        "",
        "| " + " | ".join(["model", *columns]) + " |",
        "|" + "---|" * (1 + len(columns)),
    ]
    notes: list[str] = []
    for record in records:
        cells = []
        for label in columns:
            fig = next((f for f in record["figures"] if f["label"] == label), None)
            cells.append(format_value(fig["value"], fig["std"] if fig["metric"] in WITH_SPREAD else None)
                         if fig and fig["status"] == "ok" else "")
        status = "" if record["status"] == "ok" else f" ({record['status']})"
        lines.append("| " + " | ".join([f"{_display(record)}{status}", *cells]) + " |")
        if record["status"] != "ok":
            notes.append(f"- **{_display(record)}** {record['status']}: {record.get('error')}")
        notes += [f"- {_display(record)}: {fig['metric']} {fig['status']}: {fig['reason']}"
                  for fig in record["figures"] if fig["status"] != "ok"]
    if notes:
        lines += ["", "Not computed:", "", *notes]
    lines += ["", _glossary(meta, records)]
    return "\n".join(lines) + "\n"


def metric_set_line(meta: dict[str, Any]) -> str:
    """Which metrics ran and, for the quick default, how to ask for the rest."""
    chosen = ", ".join(meta["metrics"])
    if meta.get("metric_set") == "quick default":
        return (f"Metrics: {chosen} (the quick default set; `--metrics all` computes every metric, or name "
                "them, e.g. `--metrics fid,kid,lpips,ppl,swd,density,coverage,is,fid-inf`).")
    return f"Metrics: {chosen}."


def _display(record: dict[str, Any]) -> str:
    """A model as the table names it: its resolved name (``lia`` -> ``lia-fashion-mnist-32``) when known."""
    return record.get("resolved") or record["model"]


def _details(fig: dict[str, Any]) -> str:
    shared = _SHARED_SETTINGS + (_EXTRACTOR_SETTINGS if "extractor" in fig["settings"] else ())
    settings = ", ".join(f"{k}={v}" for k, v in fig["settings"].items() if v is not None and k not in shared)
    return f"N={fig['n']}" + (f", {settings}" if settings else "")


def _glossary(meta: dict[str, Any], records: list[dict[str, Any]]) -> str:
    """What each label was computed with, per model: one line where every model used the same settings."""
    seen: dict[str, dict[str, list[str]]] = {}
    for record in records:
        for fig in record["figures"]:
            if fig["status"] == "ok":
                seen.setdefault(fig["label"], {}).setdefault(_details(fig), []).append(_display(record))
    if not seen:
        return ""
    lines = ["Settings per figure:", ""]
    for label, variants in seen.items():
        if len(variants) == 1:
            lines.append(f"- `{label}`: {next(iter(variants))}")
            continue
        lines.append(f"- `{label}`:")
        lines += [f"  - {', '.join(models)}: {details}" for details, models in variants.items()]
    figures = [f for r in records for f in r["figures"] if f["status"] == "ok"]
    real_sets = {f["settings"]["real_set"] for f in figures if "real_set" in f["settings"]}
    lines += [f"- real images: {s}" for s in sorted(real_sets)]
    extractors = {tuple((k, f["settings"].get(k)) for k in _EXTRACTOR_SETTINGS) for f in figures
                  if "extractor" in f["settings"]}
    lines += [f"- extractor `{dict(e)['extractor']}`: " + ", ".join(f"{k}={v}" for k, v in e[1:])
              for e in sorted(extractors, key=str)]
    caches = {f["settings"]["real_features_file"] for f in figures if f["settings"].get("real_features_file")}
    lines += [f"- real features cached in {c} (usable as `--reference`)" for c in sorted(caches)]
    if any("[fashion-mnist-features" in label for label in seen):
        lines.append("- FID/KID with `fashion-mnist-features` are *domain* scores in a Fashion-MNIST classifier's "
                     "feature space: not comparable with Inception FID from the literature.")
    if {f["metric"] for f in figures} & {"fid", "kid", "precision", "recall", "density", "coverage", "is"}:
        lines.append("- Feature-set figures depend on N: compare them only at the same N (FID_N is biased upward "
                     "by about 1/N; `fid-inf` gives FID∞, the extrapolation to infinitely many samples).")
    if any(f["metric"] in WITH_SPREAD and f["std"] is not None for f in figures):
        lines.append("- ±: KID's is the sample standard deviation over subsets (none when one subset holds every "
                     "sample); IS's the population standard deviation over its 10 splits.")
    if "scale disentanglement" in seen:
        lines.append("- `scale disentanglement` encodes and mixes images of the synthetic scales dataset: it measures "
                     "models trained on that dataset; for others it is out of domain (see each factor's "
                     "`reconstruction` accuracy in results.json, the share of factors a plain reconstruction keeps).")
    if meta.get("random_weights"):
        lines.append("- **RANDOM weights were used for pretrained networks: these numbers only exercise code.**")
    return "\n".join(lines)


def _relative(images: dict[str, str], folder: Path) -> dict[str, str]:
    """Each image path relative to ``folder`` (unchanged when it lies elsewhere)."""
    def relative(path: str) -> str:
        try:
            return Path(path).resolve().relative_to(folder.resolve()).as_posix()
        except ValueError:
            return path

    return {name: relative(path) for name, path in images.items()}


def write_reports(folder: Path, meta: dict[str, Any], records: list[dict[str, Any]]) -> dict[str, Path]:
    folder.mkdir(parents=True, exist_ok=True)
    paths = {"json": folder / "results.json", "csv": folder / "results.csv", "markdown": folder / "results.md"}
    # Grid paths relative to the folder: results are published, and where a machine keeps its files is not theirs.
    published = [{**r, "images": _relative(r["images"], folder)} if r.get("images") else r for r in records]
    write_text_atomic(paths["json"], json.dumps(results_document(meta, published), indent=2, default=str) + "\n")
    write_text_atomic(paths["csv"], csv_text(records))
    write_text_atomic(paths["markdown"], markdown(meta, records))
    return paths
