"""Editing on the bundled Fashion-MNIST models, judged by the shipped classifier (CPU).

    python benchmarks/editing/run.py table            # benchmarks/results/editing-fashion-mnist.{md,json}
    python benchmarks/editing/run.py grids            # docs/editing-*.png

``table``: per model, a supervised direction per class pair (fitted on 1,000 encoded training images per
class, the library default) applied to every Fashion-MNIST test image of the source class; the rate at which
the shipped classifier then calls them the target class, at each strength, and how far they moved from the
unedited decoding (L2 in fashion-mnist-features: LPIPS needs an ImageNet file that is not on this machine).
Then, for the top 5 SeFa and GANSpace directions, the classifier change (mean total variation of its class
probabilities, ±3 against 0) over 1,000 seeded test images.
``grids``: the figures of docs/editing.md.
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys
import time
from pathlib import Path
from typing import Any

import torch

import genae
from genae.bench.provenance import machine
from genae.data import open_dataset
from genae.io import write_text_atomic
from genae.metrics.editing import FashionClassifier, class_edit_rates, classifier_change, movement_measure

ROOT = Path(__file__).resolve().parents[2]
RESULTS = ROOT / "benchmarks" / "results"
MODELS = ["automodulator-fashion-mnist-32", "lia-fashion-mnist-32", "vae-fashion-mnist-32"]
PAIRS = [(1, 3), (3, 1)]
STRENGTHS = [0.0, 1.0, 2.0, 3.0]
CHANGE_IMAGES = 1000


def test_images(channels: int = 1) -> tuple[torch.Tensor, torch.Tensor, Any]:
    dataset = open_dataset("fashion-mnist", split="test", resolution=32, channels=channels)
    images = torch.stack([dataset[i][0] for i in range(len(dataset))])
    return images, torch.as_tensor(dataset.labels), dataset


def table(args: argparse.Namespace) -> None:
    images, labels, dataset = test_images()
    classifier = FashionClassifier()
    measure_name, measure = movement_measure(classifier=classifier)
    chosen = torch.randperm(len(images), generator=torch.Generator().manual_seed(0))[:CHANGE_IMAGES]
    path = RESULTS / "editing-fashion-mnist.json"
    rows: dict[str, Any] = json.loads(path.read_text())["rows"] if path.is_file() else {}  # re-run rows replace
    for name in args.models:
        model = genae.load(name)
        started = time.time()
        row: dict[str, Any] = {"pairs": {}, "change": {}}
        for source, target in PAIRS:
            d = genae.directions(model, method="supervised", data="fashion-mnist", labels=(source, target))
            rates = class_edit_rates(model, images[labels == source], d[0], target, STRENGTHS, classifier, measure)
            row["pairs"][d.names[0]] = {"labels": [source, target], "images": int((labels == source).sum()),
                                        "boundary_train_accuracy": float(d.values[0]), "scale": float(d.scales[0]),
                                        "rates": rates}
            print(name, d.names[0], [(r["strength"], round(r["target_rate"], 3)) for r in rates], flush=True)
        for method in ("sefa", "ganspace"):
            if method == "sefa" and not hasattr(model.decoder, "style_affine_weights"):
                continue
            found = genae.directions(model, method=method, k=5, data="fashion-mnist")
            row["change"][method] = [round(classifier_change(model, images[chosen], d, 3.0, classifier), 4)
                                     for d in found]
            print(name, method, row["change"][method], flush=True)
        row.update(seconds=round(time.time() - started, 1), machine=machine(),
                   command="python " + " ".join(shlex.quote(a) for a in sys.argv))
        rows[name] = row
    record = {"rows": rows, "strengths": STRENGTHS, "movement": measure_name, "test_set": dataset.description,
              "change_images": CHANGE_IMAGES, "change_strength": 3.0}
    write_text_atomic(path, json.dumps(record, indent=2) + "\n")
    write_text_atomic(RESULTS / "editing-fashion-mnist.md", markdown(record))
    print(f"wrote {RESULTS / 'editing-fashion-mnist.md'}")


def markdown(record: dict[str, Any]) -> str:
    strengths = record["strengths"]
    lines = [
        "# Editing the bundled Fashion-MNIST models, judged by the shipped classifier",
        "",
        "Supervised (InterFaceGAN-style) directions fitted with `genae.directions(m, method=\"supervised\", "
        "data=\"fashion-mnist\", labels=(source, target))` (1,000 encoded training images per class), applied with "
        "`genae.edit` to **every** Fashion-MNIST test image of the source class. *Rate*: fraction the shipped "
        "Fashion-MNIST classifier assigns to the target class. Strength is in standard deviations of the fitted "
        "codes along the direction; strength 0 is the model's own reconstruction. *Moved*: mean "
        f"{record['movement']} distance from the unedited reconstruction (LPIPS needs an ImageNet backbone file "
        "that is not on this machine).",
        "",
        "| model | edit | images | " + " | ".join(f"rate @{s:g}" for s in strengths) + " | "
        + " | ".join(f"moved @{s:g}" for s in strengths[1:]) + " |",
        "|---|---|---|" + "---|" * (2 * len(strengths) - 1),
    ]
    for name, row in record["rows"].items():
        for edit, pair in row["pairs"].items():
            rates = " | ".join(f"{r['target_rate']:.3f}" for r in pair["rates"])
            moved = " | ".join(f"{r['movement']:.2f}" for r in pair["rates"][1:])
            lines.append(f"| {name} | {edit} | {pair['images']} | {rates} | {moved} |")
    lines += [
        "",
        "Label-free \"meaningfulness\": for the top 5 SeFa and GANSpace directions (GANSpace: PCA of 2,000 encoded "
        "training images; both scaled by the spread of those codes), the mean total-variation distance between the "
        f"classifier's class probabilities at strength 0 and at ±{record['change_strength']:g}, over {record['change_images']} seeded test images "
        "(0: the classifier sees no change; 1: every image changes class with certainty).",
        "",
        "| model | method | mean | per direction (0..4) |",
        "|---|---|---|---|",
    ]
    for name, row in record["rows"].items():
        for method, values in row["change"].items():
            lines.append(f"| {name} | {method} | {sum(values) / len(values):.3f} | "
                         f"{', '.join(f'{v:.3f}' for v in values)} |")
    lines += ["", f"Test set: {record['test_set']}.", "", "Commands, commits and machines (one per model):", ""]
    for name, row in record["rows"].items():
        m = row["machine"]
        lines.append(f"- {name}: `{row['command']}` — commit `{m['git_commit']}`, {m['cpu']} ({m['cores']} cores), "
                     f"torch {m['torch']}, {m['torch_threads']} thread(s), load {m['load_average_1_5_15']}, "
                     f"{row['seconds']} s")
    return "\n".join(lines) + "\n"


def grids(args: argparse.Namespace) -> None:
    from genae.viz import save_labelled_grid

    images, labels, _ = test_images()
    picks = torch.cat([torch.nonzero(labels == c).flatten()[:2] for c in (0, 1, 3, 7, 9)])[:6]
    trousers = images[labels == 1][:6]
    values = [-3.0, -1.5, 0.0, 1.5, 3.0]

    def save(model: Any, name: str, rows: torch.Tensor, direction: Any, title: str, strengths: list[float]) -> None:
        edited = genae.edit(model, rows, direction, strengths)
        path = save_labelled_grid(edited, ROOT / "docs" / f"editing-{name}.png", [f"{v:+g}" for v in strengths],
                                  scale=3, title=title)
        print(f"wrote {path}")

    for short in ("automodulator", "lia", "vae"):
        model = genae.load(f"{short}-fashion-mnist-32")
        d = genae.directions(model, method="sefa", k=3, data="fashion-mnist")
        where = ", all slots" if model.is_style_based else " (in z)"
        save(model, f"{short}-sefa", images[picks], d[0], f"{short}: sefa-0{where}", values)
        if short == "automodulator":
            coarse = genae.directions(model, method="sefa", k=3, slots="coarse", data="fashion-mnist")
            save(model, f"{short}-sefa-coarse", images[picks], coarse[0], f"{short}: sefa-0, coarse slots", values)
        s = genae.directions(model, method="supervised", data="fashion-mnist", labels=(1, 3))
        save(model, f"{short}-trouser-dress", trousers, s[0], f"{short}: trouser->dress", [0.0, 1.0, 2.0, 3.0])
    model = convert_stylegan2(args.stylegan2)
    w = model.prior.sample(6, generator=torch.Generator().manual_seed(0))
    d = genae.directions(model, method="sefa", k=3)
    save(model, "stylegan2-sefa-0", w, d[0], "narrow StyleGAN2 fixture (untrained): sefa-0", values)


def convert_stylegan2(checkpoint: Path) -> Any:
    import tempfile

    from genae_plugins.stylegan.convert import convert_rosinality

    folder = Path(tempfile.mkdtemp()) / "narrow32"
    return genae.load(convert_rosinality(checkpoint, folder, encoder_backbone="regnetx_002"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--threads", type=int, default=1)
    sub = parser.add_subparsers(dest="command", required=True)
    p_table = sub.add_parser("table")
    p_table.add_argument("--models", type=lambda s: s.split(","), default=MODELS)
    p_grids = sub.add_parser("grids")
    p_grids.add_argument("--stylegan2", type=Path,
                         default=ROOT.parent / "shared" / "fixtures" / "rosinality-stylegan2" / "narrow32_g.pt")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    {"table": table, "grids": grids}[args.command](args)


if __name__ == "__main__":
    main()
