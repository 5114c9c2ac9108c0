"""Model cards in the Hugging Face Hub's format, built with ``huggingface_hub.ModelCard``/``ModelCardData``.

The card's metadata is what the Hub indexes: ``library_name: genae``, tags, ``datasets`` as Hub dataset ids
(omitted when the training data has none), the model's own ``license`` (``unknown`` unless the model's card
facts name one: genae's MIT licence covers its code, not every model's weights or data), and numeric metrics
in the Hub's model-index form when the dataset has a Hub id. Everything else is prose in the card's body.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from huggingface_hub import ModelCard

    from genae.interfaces import GenerativeAutoencoder

#: Our dataset names (and the prefixes of their descriptions) -> (Hub dataset id, display name). Only ids we
#: are sure of; other datasets are left out of the metadata rather than guessed.
HUB_DATASETS = {"fashion-mnist": ("zalando-datasets/fashion_mnist", "Fashion-MNIST")}
GENERATION_METRICS = ("fid", "kid", "swd", "ppl", "precision", "recall")
#: The short metric ids the Hub's model-index expects as ``type``; the full metric name goes in ``name``.
METRIC_IDS = ("fid", "kid", "swd", "ppl", "precision", "recall", "lpips", "ssim", "psnr", "mse", "mae", "nmi", "ari",
              "accuracy", "bpd", "nll", "elbo")
DEFAULT_LICENSE = "unknown"
#: What a model is used for on the Hub: ``model(x)`` maps images to (reconstructed or edited) images.
PIPELINE_TAG = "image-to-image"
#: A local absolute path (``/home/me/data``, ``~/data``): not the ``/`` inside a URL, a ratio or a word.
_LOCAL_PATH = re.compile(r"(?<![\w.:/~-])(?:~|/)(?:/?[^\s/:;,()'\"]+)+")


def hub_dataset_id(dataset: str) -> str | None:
    """The Hub id of a dataset named or described by ``dataset`` (e.g. ``"Fashion-MNIST from /usr/..."``)."""
    text = re.sub(r"[\s_]+", "-", str(dataset).strip().lower())
    return next((hub_id for name, (hub_id, _) in HUB_DATASETS.items() if text.startswith(name)), None)


def dataset_display_name(hub_id: str) -> str:
    return next((shown for known, shown in HUB_DATASETS.values() if known == hub_id), hub_id)


def card_datasets(card: Mapping[str, Any]) -> list[str]:
    """Hub dataset ids: an explicit ``datasets`` list wins; else the id of the ``dataset`` description, if any."""
    if card.get("datasets"):
        ids = card["datasets"]
        if not isinstance(ids, list) or not all(isinstance(i, str) and "/" in i for i in ids):
            raise ValueError(f"card['datasets']: expected a list of Hub dataset ids ('org/name'), got {ids!r}")
        return list(ids)
    found = hub_dataset_id(card.get("dataset", ""))
    return [found] if found else []


def strip_local_paths(text: str) -> str:
    """``text`` with each absolute local path replaced by its last part, so a card never publishes where files sit
    on the machine that wrote it (``Fashion-MNIST from /usr/share/datasets/fashion-mnist`` → ``... from fashion-mnist``)."""
    return _LOCAL_PATH.sub(lambda m: m.group(0).rstrip("/").rsplit("/", 1)[-1] or "/", str(text))


def metric_id(name: str) -> str:
    """The Hub's short metric ``type`` for a metric name: a known id among its words, ``mixing`` for mixing
    scores, else ``other`` (the full name always goes in the entry's ``name``)."""
    words = re.findall(r"[a-z0-9]+", name.lower())
    known = next((w for w in words if w in METRIC_IDS), None)
    return known or ("mixing" if any(w.startswith("mix") for w in words) else "other")


def eval_results(metrics: Mapping[str, Any], dataset_id: str, dataset_name: str) -> list[Any]:
    """Numeric metrics as model-index entries (nested or textual figures stay in the card's table only)."""
    from huggingface_hub import EvalResult

    results = []
    for name, value in metrics.items():
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            continue
        generation = any(key in name.lower() for key in GENERATION_METRICS)
        results.append(EvalResult(
            task_type="unconditional-image-generation" if generation else "image-to-image",
            dataset_type=dataset_id, dataset_name=dataset_name, metric_type=metric_id(name), metric_name=name,
            metric_value=value,
        ))
    return results


def build_model_card(model: GenerativeAutoencoder, card: Mapping[str, Any]) -> ModelCard:
    """The card of ``model`` from its card facts (``model.card`` merged with ``save_pretrained``'s ``card=``)."""
    from huggingface_hub import ModelCard, ModelCardData

    from genae._version import __version__

    name = str(card.get("name", model.architecture))
    datasets = card_datasets(card)
    metrics: Mapping[str, Any] = card.get("metrics") or {}
    tags = list(dict.fromkeys(["genae", "generative-autoencoder", model.architecture, *card.get("tags", [])]))
    data = ModelCardData(
        library_name="genae",
        pipeline_tag=PIPELINE_TAG,
        license=str(card.get("license") or DEFAULT_LICENSE),
        tags=tags,
        datasets=datasets or None,
        model_name=name if datasets and metrics else None,
        eval_results=eval_results(metrics, datasets[0], dataset_display_name(datasets[0]))
        if datasets and metrics else None,
    )
    body = _body(model, card, name, metrics, __version__)
    return ModelCard(f"---\n{data.to_yaml()}\n---\n\n{body}")


def render_model_card(model: GenerativeAutoencoder, card: Mapping[str, Any]) -> str:
    """The ``README.md`` text of a model folder."""
    return str(build_model_card(model, card).content)


def _body(model: GenerativeAutoencoder, card: Mapping[str, Any], name: str, metrics: Mapping[str, Any],
          version: str) -> str:
    n_params = sum(p.numel() for p in model.parameters())
    load_name = card.get("load_name", "PATH_OR_NAME")
    lines = [f"# {name}", "", strip_local_paths(card.get("description",
                                                         f"A `{model.architecture}` model saved by genae {version}.")),
             "", "## Install", "", "```bash", f"pip install {install_packages(model)}", "```", "",
             "## Use", "", "```python", "import genae", "from genae.data import example_images", "",
             f"model = genae.load({load_name!r})",
             f"images = example_images(8, resolution={model.resolution}, channels={model.channels})  "
             "# or your own (B, C, H, W) batch in [-1, 1]",
             "z = model.encode(images)", "x = model.decode(z)", "```", "", "## Architecture", "",
             f"- architecture: `{model.architecture}` (plugin `{model.plugin}`)",
             f"- parameters: {n_params:,}",
             f"- image shape: {model.image_shape}, latent dim: {model.latent_dim}"]
    for key in ("dataset", "data_preparation", "training", "source", "conversion", "prior"):
        if card.get(key):
            lines.append(f"- {key.replace('_', ' ')}: {strip_local_paths(card[key])}")
    if card.get("dataset_hash"):
        lines.append(f"- dataset content hash: `{card['dataset_hash']}` (`genae.data` content_hash: sha256 of the "
                     "images and their resize settings)")
    if card.get("hyperparameters"):
        lines.append(f"- hyperparameters: `{json.dumps(card['hyperparameters'], sort_keys=True)}`")
    if metrics:
        lines += ["", "## Metrics", "", "| metric | value |", "|---|---|"]
        lines += [f"| {metric} | {value} |" for metric, value in metrics.items()]
    if card.get("limitations"):
        lines += ["", "## Limitations", "", strip_local_paths(card["limitations"])]
    lines += ["", "## Config", "", "```json", model.config.to_json(), "```", ""]
    return "\n".join(lines)


def install_packages(model: GenerativeAutoencoder) -> str:
    """What ``pip install`` needs for this model: genae, and the plugin's package when a plugin provides it."""
    from genae.factory import provenance

    package = (provenance(model).get("distribution") or {}).get("name")
    return "genae" if package in (None, "genae") else f"genae {package}"


def rewrite_card(folder: str | Path, **facts: Any) -> Path:
    """Regenerate a saved folder's ``README.md`` from its ``config.json`` (weights untouched); ``facts`` (e.g.
    ``license="mit"``) are added to the card facts in ``config.json`` first. For cards written by older genae."""
    from genae.hub import CARD_NAME, CONFIG_NAME, load_folder, read_config
    from genae.io import write_text_atomic

    folder = Path(folder)
    config = read_config(folder)
    if facts:
        config["card"] = {**(config.get("card") or {}), **facts}
        write_text_atomic(folder / CONFIG_NAME, json.dumps(config, indent=2, sort_keys=True) + "\n")
    model = load_folder(folder)
    write_text_atomic(folder / CARD_NAME, render_model_card(model, model.card))
    return folder / CARD_NAME
