"""The public doors: ``create``, ``load``, ``list_models``, ``register_model``."""

from __future__ import annotations

import importlib.resources
import logging
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from genae.registry import REGISTRY, ModelSpec, PretrainedSpec, RegistryError, import_object

if TYPE_CHECKING:
    import torch

    from genae.interfaces import GenerativeAutoencoder

log = logging.getLogger("genae")


def list_models(pattern: str = "*", pretrained: bool = False) -> list[str]:
    """Registered architecture names (or pretrained names) matching a shell-style pattern."""
    return REGISTRY.list_models(pattern, pretrained=pretrained)


def create(name: str, device: torch.device | str | None = None, **overrides: Any) -> GenerativeAutoencoder:
    """Build a freshly initialised model; ``overrides`` set config fields (unknown ones are errors)."""
    from genae.interfaces import GenerativeAutoencoder

    spec = REGISTRY.model_spec(name)
    cls = spec.model_class()
    if not (isinstance(cls, type) and issubclass(cls, GenerativeAutoencoder)):
        raise TypeError(f"model {spec.name!r} ({spec.model}) is not a GenerativeAutoencoder subclass")
    config = cls.config_class.from_dict({**spec.defaults, **overrides})
    model = cls(config)
    model.architecture = spec.name
    model.plugin = spec.plugin
    return model.to(device) if device is not None else model


def register_model(
    name: str,
    model: str | Callable[..., Any] | None = None,
    *,
    defaults: dict[str, Any] | None = None,
    recipe: str | Callable[..., Any] | None = None,
    description: str = "",
    plugin: str = "user",
) -> Any:
    """Register an architecture at run time; usable as a class decorator when ``model`` is omitted."""

    def add(target: str | Callable[..., Any]) -> Any:
        REGISTRY.discover()
        REGISTRY.add_model(
            ModelSpec(name, target, plugin=plugin, defaults=dict(defaults or {}), recipe=recipe,
                      description=description)
        )
        return target

    return add(model) if model is not None else add


def resolve_pretrained(name: str) -> PretrainedSpec:
    """A pretrained name, an alias, or an unambiguous prefix (``automodulator-ffhq``)."""
    REGISTRY.discover()
    key = REGISTRY.canonical(name)
    if key in REGISTRY.pretrained:
        if key != name:
            log.info("genae: %r resolves to pretrained %r", name, key)
        return REGISTRY.pretrained[key]
    if key in REGISTRY.models:
        have = REGISTRY.list_models(f"{key}-*", pretrained=True)
        raise RegistryError(
            f"{name!r} is an architecture, not pretrained weights: use genae.create({name!r}) for a fresh "
            f"model, or load one of: {', '.join(have) or '(none registered)'}"
        )
    prefixed = sorted(p for p in REGISTRY.pretrained if p.startswith(name + "-"))
    if len(prefixed) == 1:
        log.info("genae: %r resolves to pretrained %r", name, prefixed[0])
        return REGISTRY.pretrained[prefixed[0]]
    if prefixed:
        raise RegistryError(f"{name!r} is ambiguous; pick one of: {', '.join(prefixed)}")
    raise RegistryError(
        REGISTRY.unknown_message("model or pretrained name", name, [*REGISTRY.models, *REGISTRY.pretrained, *REGISTRY.aliases])
    )


def pretrained_folder(spec: PretrainedSpec) -> Path:
    """Materialise a pretrained spec as a local model folder."""
    from genae.hub import HUB_PREFIX, download_from_hub, parse_hub_name

    if spec.package_files:
        package, _, relative = spec.package_files.partition(":")
        folder = Path(str(importlib.resources.files(package).joinpath(relative)))
        if not folder.is_dir():
            raise FileNotFoundError(f"pretrained {spec.name!r}: packaged folder {folder} is missing")
        return folder
    if spec.hf_repo:
        return download_from_hub(*parse_hub_name(HUB_PREFIX + spec.hf_repo))
    return Path(import_object(spec.resolver)(spec))


def load(
    name_or_path: str | Path, device: torch.device | str | None = None
) -> GenerativeAutoencoder:
    """Load a model from a local folder, ``hf-hub:org/repo[@revision]``, or a pretrained name."""
    from genae.hub import HUB_PREFIX, download_from_hub, load_folder, parse_hub_name

    if not isinstance(name_or_path, (str, Path)) or not str(name_or_path):
        raise TypeError(f"name_or_path: expected a non-empty str or Path, got {name_or_path!r}")
    text = str(name_or_path)
    if text.startswith(HUB_PREFIX):
        model = load_folder(download_from_hub(*parse_hub_name(text)), device=device)
        model.card.setdefault("load_name", text)
        return model
    if isinstance(name_or_path, Path) or Path(text).exists() or "/" in text or text.startswith("."):
        if not Path(text).exists():
            raise FileNotFoundError(f"model folder {text!r} does not exist")
        return load_folder(text, device=device)
    spec = resolve_pretrained(text)
    model = load_folder(pretrained_folder(spec), device=device)
    model.card.setdefault("load_name", spec.name)
    return model
