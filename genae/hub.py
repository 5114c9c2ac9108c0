"""Weights in and out: a model folder is ``config.json`` + ``model.safetensors`` + ``README.md``.

The same folder layout is used locally and on the Hugging Face Hub. Loading never unpickles anything:
the config is JSON and the weights are safetensors.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from genae._version import __version__
from genae.cards import render_model_card
from genae.io import atomic_folder, format_version

if TYPE_CHECKING:
    import torch

    from genae.interfaces import GenerativeAutoencoder

CONFIG_NAME = "config.json"
WEIGHTS_NAME = "model.safetensors"
CARD_NAME = "README.md"
MODEL_FILES = (CONFIG_NAME, WEIGHTS_NAME, CARD_NAME)
#: What ``push`` uploads from a folder, at any depth: the model files, pictures and plain-text results. Never
#: pickles (``*.pt``, ``*.pth``, ``*.pkl``, ``*.bin``, e.g. a training checkpoint) and never hidden files.
PUSH_ALLOW = ("*.json", "*.safetensors", "*.md", "*.txt", "*.jsonl", "*.csv", "*.yaml", "*.png", "*.jpg", "*.jpeg")
FORMAT = "genae-model/1"
HUB_PREFIX = "hf-hub:"


class ModelFolderError(ValueError):
    """A folder that is not a complete, readable genae model."""


def save_pretrained(
    model: GenerativeAutoencoder,
    path: str | Path,
    card: Mapping[str, Any] | None = None,
    *,
    push_to_hub: bool = False,
    repo_id: str | None = None,
    **push_options: Any,
) -> Path:
    """Write the model folder as a whole: it replaces an earlier one at ``path`` only once complete.

    With ``push_to_hub=True`` (as in diffusers) the folder is then uploaded to ``repo_id`` by :func:`push_to_hub`
    with ``push_options`` (``private``, ``token``, ``commit_message``, ``revision``, ``create_pr``).
    """
    if push_to_hub:
        check_repo_id(repo_id)
    elif repo_id is not None or push_options:
        raise ValueError("save_pretrained: repo_id and push options need push_to_hub=True")
    from safetensors.torch import save_file

    from genae.factory import provenance
    from genae.fitted_prior import prior_spec

    if not model.architecture:
        raise ValueError(
            "save_pretrained: the model has no registered architecture name; create it with genae.create"
        )
    path = Path(path)
    merged_card = _jsonable_card({**model.card, **(card or {})})  # what is saved is what the card shows
    # clone + contiguous: safetensors refuses shared or strided storage.
    tensors = {k: v.detach().to("cpu").contiguous().clone() for k, v in model.state_dict().items()}
    config = {
        "format": FORMAT,
        "architecture": model.architecture,
        "plugin": model.plugin,
        **provenance(model),
        "genae_version": __version__,
        "config": model.config.to_dict(),
        "card": merged_card,
    }
    fitted = prior_spec(model)
    if fitted is not None:
        config["prior"] = fitted
    # The whole folder is staged and swapped in: a failure at any point leaves the earlier model loadable.
    with atomic_folder(path, replaces=MODEL_FILES) as staged:
        save_file(tensors, str(staged / WEIGHTS_NAME), metadata={"format": "pt", "genae_version": __version__})
        (staged / CARD_NAME).write_text(render_model_card(model, merged_card), encoding="utf-8")
        (staged / CONFIG_NAME).write_text(json.dumps(config, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    if push_to_hub:
        push_folder_to_hub(path, repo_id, **push_options)  # type: ignore[arg-type]
    return path


def read_config(folder: str | Path) -> dict[str, Any]:
    folder = Path(folder)
    config_path = folder / CONFIG_NAME
    if not config_path.is_file():
        raise ModelFolderError(f"{folder}: not a genae model folder (no {CONFIG_NAME})")
    try:
        config = json.loads(config_path.read_text(encoding="utf-8-sig"))
    except UnicodeDecodeError as error:
        raise ModelFolderError(f"{config_path}: not UTF-8 text (byte {error.object[error.start]:#04x} at offset "
                               f"{error.start}); save it as UTF-8 JSON") from error
    except json.JSONDecodeError as error:
        raise ModelFolderError(f"{config_path}: invalid JSON ({error})") from error
    except RecursionError:
        raise ModelFolderError(f"{config_path}: JSON nested too deeply to be a model config") from None
    if not isinstance(config, dict):
        raise ModelFolderError(f"{config_path}: expected a JSON object, got {type(config).__name__}")
    for key in ("architecture", "config"):
        if key not in config:
            raise ModelFolderError(f"{config_path}: missing key {key!r}")
    if not isinstance(config["architecture"], str) or not isinstance(config["config"], dict):
        raise ModelFolderError(
            f"{config_path}: expected 'architecture' to be a string and 'config' a JSON object, got "
            f"{type(config['architecture']).__name__} and {type(config['config']).__name__}"
        )
    for key, expected in OPTIONAL_KEYS.items():
        if config.get(key) is not None and not isinstance(config[key], expected):
            raise ModelFolderError(f"{config_path}: expected {key!r} to be a JSON {_JSON_NAMES[expected]} or "
                                   f"absent, got {type(config[key]).__name__} {_short(config[key])}")
    check_format(config.get("format", FORMAT), config.get("genae_version", "unknown"), config_path)
    return config


#: Keys of ``config.json`` a folder may omit (or set to null), with the JSON type they must have otherwise.
OPTIONAL_KEYS: dict[str, type] = {"format": str, "genae_version": str, "plugin": str, "distribution": dict,
                                  "card": dict, "model_class": str, "prior": dict}
_JSON_NAMES = {str: "string", dict: "object"}


def _short(value: Any) -> str:
    text = json.dumps(value)
    return text if len(text) <= 40 else text[:39] + "…"


def check_format(written: Any, writer_version: str, where: Path) -> None:
    """Refuse a folder format newer than this genae reads: it may hold what this code would misread."""
    family, _, number = FORMAT.rpartition("/")
    version = format_version(written, family)
    if version is None:
        raise ModelFolderError(f"{where}: unknown format {written!r}; this genae reads {FORMAT}")
    if version > int(number):
        raise ModelFolderError(
            f"{where}: format {written} (written by genae {writer_version}) is newer than this genae "
            f"{__version__} reads ({FORMAT}); upgrade genae"
        )


def load_folder(folder: str | Path, device: torch.device | str | None = None) -> GenerativeAutoencoder:
    """Rebuild a model from a folder written by :func:`save_pretrained`, bit-exactly."""
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    from genae.factory import build_saved
    from genae.fitted_prior import apply_prior_spec

    folder = Path(folder)
    config = read_config(folder)
    weights = folder / WEIGHTS_NAME
    if not weights.is_file():
        raise ModelFolderError(f"{folder}: no {WEIGHTS_NAME}")
    model = build_saved(config)
    try:
        apply_prior_spec(model, config.get("prior"), str(folder / CONFIG_NAME))
    except ValueError as error:
        raise ModelFolderError(str(error)) from None
    try:
        state = load_file(str(weights), device="cpu")
    except (SafetensorError, OSError) as error:
        raise ModelFolderError(f"{weights}: unreadable safetensors file ({error})") from error
    expected = model.state_dict()
    mismatch = state_mismatch(expected, state)
    if mismatch:
        raise ModelFolderError(f"{weights}: weights do not match {config['architecture']}: {mismatch}")
    check_weight_values(state, expected, weights)
    model.load_state_dict(state, strict=True)
    model.card = dict(config.get("card") or {})
    model.eval()
    return model.to(device) if device is not None else model


def state_mismatch(expected: Mapping[str, torch.Tensor], given: Any) -> str | None:
    """How a state dict differs from a module's in names and shapes (one line), or None when it fits."""
    import torch

    if not isinstance(given, Mapping):
        return f"expected a dict of tensors, got {type(given).__name__}"
    missing = sorted(set(expected) - set(given))
    unexpected = sorted(set(given) - set(expected))
    reshaped = [f"{k} {tuple(given[k].shape) if isinstance(given[k], torch.Tensor) else type(given[k]).__name__} "
                f"!= {tuple(v.shape)}" for k, v in expected.items()
                if k in given and not (isinstance(given[k], torch.Tensor) and given[k].shape == v.shape)]
    if not (missing or unexpected or reshaped):
        return None
    return f"missing {missing[:5]}, unexpected {unexpected[:5]}, wrong shape {reshaped[:5]}"


def check_weight_values(state: Mapping[str, torch.Tensor], expected: Mapping[str, torch.Tensor], where: Path) -> None:
    """Refuse weights of another dtype than the architecture's (an int32 tensor would load as garbage) and
    non-finite floats (a NaN weight makes every output NaN), naming the tensors."""
    import torch

    retyped = [f"{k} {state[k].dtype} != {v.dtype}" for k, v in expected.items() if state[k].dtype != v.dtype]
    if retyped:
        raise ModelFolderError(f"{where}: tensors of the wrong dtype: {', '.join(retyped[:5])}"
                               + (f" and {len(retyped) - 5} more" if len(retyped) > 5 else ""))
    broken = [k for k, v in state.items() if v.is_floating_point() and not bool(torch.isfinite(v).all())]
    if broken:
        raise ModelFolderError(f"{where}: tensors with NaN or infinite values: {', '.join(broken[:5])}"
                               + (f" and {len(broken) - 5} more" if len(broken) > 5 else ""))


def parse_hub_name(name: str) -> tuple[str, str | None]:
    """``hf-hub:org/repo@rev`` → ``("org/repo", "rev")``."""
    if not name.startswith(HUB_PREFIX):
        raise ValueError(f"expected a name starting with {HUB_PREFIX!r}, got {name!r}")
    repo, _, revision = name[len(HUB_PREFIX) :].partition("@")
    if repo.count("/") != 1 or not all(repo.split("/")):
        raise ValueError(f"{name!r}: expected hf-hub:org/repo[@revision]")
    return repo, revision or None


def hub_offline() -> bool:
    """Read ``HF_HUB_OFFLINE`` now, not at import (huggingface_hub caches it at import time)."""
    return os.environ.get("HF_HUB_OFFLINE", "").strip().lower() in {"1", "true", "yes", "on"}


def download_from_hub(
    repo_id: str,
    revision: str | None = None,
    cache_dir: str | Path | None = None,
    token: str | bool | None = None,
    local_files_only: bool = False,
    force_download: bool = False,
) -> Path:
    """Fetch (or find in the standard cache) a model folder from the Hugging Face Hub."""
    from huggingface_hub import snapshot_download
    from huggingface_hub.errors import LocalEntryNotFoundError

    try:
        folder = snapshot_download(
            repo_id,
            revision=revision,
            cache_dir=cache_dir,
            token=token,
            allow_patterns=[CONFIG_NAME, WEIGHTS_NAME, CARD_NAME],
            local_files_only=local_files_only or hub_offline(),
            force_download=force_download,
        )
    except LocalEntryNotFoundError as error:
        where = f"hf-hub:{repo_id}" + (f"@{revision}" if revision else "")
        raise ModelFolderError(
            f"{where} is not in the local Hugging Face cache and the Hub cannot be reached "
            f"(HF_HUB_OFFLINE={os.environ.get('HF_HUB_OFFLINE', 'unset')}, local_files_only={local_files_only}). "
            "Download it once while online, "
            "or save a model folder with save_pretrained and load that path."
        ) from error
    return Path(folder)


def check_repo_id(repo_id: object) -> str:
    """``org/name`` as the Hub accepts it, checked before any network call."""
    from huggingface_hub.utils import HFValidationError, validate_repo_id

    if not isinstance(repo_id, str) or repo_id.count("/") != 1:
        raise ValueError(f"repo_id: expected 'org/name' (a Hub model repository), got {repo_id!r}")
    try:
        validate_repo_id(repo_id)
    except HFValidationError as error:
        raise ValueError(f"repo_id {repo_id!r} is not a valid Hub repository id: {str(error).splitlines()[0]}") from None
    return repo_id


def files_to_push(folder: Path) -> list[Path]:
    """The folder's files that :data:`PUSH_ALLOW` admits (relative paths, sorted); hidden files never."""
    import fnmatch

    chosen = []
    for file in sorted(folder.rglob("*")):
        relative = file.relative_to(folder)
        if file.is_file() and not any(part.startswith(".") for part in relative.parts) and \
                any(fnmatch.fnmatch(file.name, pattern) for pattern in PUSH_ALLOW):
            chosen.append(relative)
    return chosen


def push_to_hub(
    folder: str | Path,
    repo_id: str,
    private: bool = False,
    token: str | None = None,
    commit_message: str | None = None,
    revision: str | None = None,
    create_pr: bool = False,
) -> str:
    """Upload a saved model folder (every file :data:`PUSH_ALLOW` admits); returns the commit or PR URL.

    The uploaded ``README.md`` is the card re-rendered for its new home, so it says ``genae.load("hf-hub:REPO")``;
    the local folder is not changed.
    """
    from huggingface_hub import CommitOperationAdd, HfApi

    check_repo_id(repo_id)
    folder = Path(folder)
    architecture = read_config(folder)["architecture"]  # refuse to upload something that would not load
    model = load_folder(folder)  # weights that do not load are not published either
    card_text = render_model_card(model, {**model.card, "load_name": HUB_PREFIX + repo_id})
    operations = [CommitOperationAdd(path_in_repo=CARD_NAME, path_or_fileobj=card_text.encode("utf-8"))]
    operations += [CommitOperationAdd(path_in_repo=relative.as_posix(), path_or_fileobj=str(folder / relative))
                   for relative in files_to_push(folder) if relative.as_posix() != CARD_NAME]
    api = HfApi(token=token)
    api.create_repo(repo_id, private=private, exist_ok=True)
    info = api.create_commit(
        repo_id=repo_id,
        operations=operations,
        commit_message=commit_message or f"Upload genae model ({architecture})",
        revision=revision,
        create_pr=create_pr,
    )
    return str(getattr(info, "pr_url", None) or getattr(info, "commit_url", info))


push_folder_to_hub = push_to_hub  # save_pretrained's push_to_hub argument shadows the function's name there


def push_model_to_hub(model: GenerativeAutoencoder, repo_id: str, **options: Any) -> str:
    """``model.push_to_hub``: save to a temporary folder (safetensors + config + card), then upload it."""
    import tempfile

    check_repo_id(repo_id)
    with tempfile.TemporaryDirectory(prefix="genae-push-") as tmp:
        return push_to_hub(save_pretrained(model, Path(tmp) / "model"), repo_id, **options)


def from_pretrained(
    cls: type[GenerativeAutoencoder],
    name_or_path: str | Path,
    device: torch.device | str | None = None,
    **hub: Any,
) -> GenerativeAutoencoder:
    """``Model.from_pretrained``, as ``PyTorchModelHubMixin`` users expect: a local folder, a Hub repo id
    (``org/repo``, or ``hf-hub:org/repo``) or a registered name, rebuilt through the registry from
    safetensors only; the result must be an instance of ``cls``."""
    from genae.factory import load

    text = str(name_or_path)
    if not Path(text).exists() and text.count("/") == 1 and not text.startswith((".", "/", HUB_PREFIX)):
        text = HUB_PREFIX + text
    model = load(text, device=device, **hub)
    if not isinstance(model, cls):
        raise TypeError(f"{name_or_path!s} holds a {type(model).__name__} ({model.architecture}), "
                        f"not a {cls.__name__}; use genae.load to open any model")
    return model


def _jsonable_card(card: Mapping[str, Any]) -> dict[str, Any]:
    """The card facts as JSON, every local absolute path cut to its last part (a card is published as is)."""
    from genae.cards import strip_local_paths

    def scrub(value: Any) -> Any:
        if isinstance(value, str):
            return strip_local_paths(value)
        if isinstance(value, dict):
            return {key: scrub(item) for key, item in value.items()}
        return [scrub(item) for item in value] if isinstance(value, list) else value

    return scrub(json.loads(json.dumps(dict(card), default=str)))
