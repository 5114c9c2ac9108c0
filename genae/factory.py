"""The public doors: ``create``, ``load``, ``list_models``, ``register_model``."""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from genae.config import check_model_size
from genae.registry import REGISTRY, ModelSpec, PretrainedSpec, RegistryError, import_object

if TYPE_CHECKING:
    import torch

    from genae.interfaces import GenerativeAutoencoder

log = logging.getLogger("genae")


def list_models(pattern: str = "*", pretrained: bool = False) -> list[str]:
    """Registered architecture names (or pretrained names) matching a shell-style pattern (case-insensitive)."""
    return REGISTRY.list_models(pattern, pretrained=pretrained)


def create(
    name: str, device: torch.device | str | None = None, *, pretrained: bool = False, **overrides: Any
) -> GenerativeAutoencoder:
    """Build a model by architecture name; ``overrides`` set config fields (unknown ones are errors).

    With ``pretrained=True`` (as in timm) ``name`` may be an architecture, giving its default weights, or a
    pretrained name; the weights fix the config, so overrides are refused.
    """
    if not isinstance(pretrained, bool):
        raise TypeError(f"pretrained: expected True or False, got {pretrained!r}")
    if pretrained:
        if overrides:
            raise ValueError(f"create({name!r}, pretrained=True): the weights fix the config, so config "
                             f"overrides {sorted(overrides)} cannot be applied; drop them or use pretrained=False")
        return _load_pretrained(REGISTRY.pretrained_for(name), device=device)
    return build(REGISTRY.model_spec(name), overrides, device=device)


def build(spec: ModelSpec, overrides: Mapping[str, Any], device: torch.device | str | None = None) -> Any:
    """Instantiate ``spec`` with its defaults and ``overrides``, stamped with its registered name and plugin."""
    from genae.interfaces import GenerativeAutoencoder

    cls = spec.model_class()
    if not (isinstance(cls, type) and issubclass(cls, GenerativeAutoencoder)):
        raise TypeError(f"model {spec.name!r} ({spec.model}) is not a GenerativeAutoencoder subclass")
    config = cls.config_class.from_dict({**spec.defaults, **overrides})
    if overrides:  # a registered default is trusted; any other config is sized before it is allocated
        check_model_size(lambda: cls(config), f"{spec.name} with {dict(overrides)}", config)
    model = cls(config)
    model.architecture = spec.name
    model.plugin = spec.plugin
    return model.to(device) if device is not None else model


def build_saved(config: Mapping[str, Any]) -> Any:
    """A fresh model for a saved folder's ``config.json``, by its (plugin, architecture); the error says which
    package to install when the plugin that wrote it is missing."""
    REGISTRY.discover()
    spec = REGISTRY.model_for_folder(config["architecture"], config.get("plugin"), config.get("distribution"))
    return build(spec, config["config"])


def provenance(model: GenerativeAutoencoder) -> dict[str, Any]:
    """What ``config.json`` records about where a model's code came from (so a missing plugin can be named)."""
    info = REGISTRY.plugins.get(model.plugin)
    if info is None or not info.distribution:
        return {}
    return {"distribution": {"name": info.distribution, "version": info.version}}


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
    """A pretrained name, alias, ``plugin:name`` or (architecture, dataset) pair such as ``vae-fashion-mnist``."""
    REGISTRY.discover()
    spec = REGISTRY.find_pretrained(name)
    if spec is not None:
        if spec.name != str(name).strip().lower():
            log.info("genae: %r resolves to pretrained %r", name, spec.name)
        return spec
    model = REGISTRY.find_model(name)
    if model is not None:
        weights = [s.name for s in REGISTRY.weights_of(model.name)]
        default = f", genae.create({name!r}, pretrained=True) for {weights[0]}" if weights else ""
        raise RegistryError(
            f"{name!r} is an architecture, not pretrained weights: use genae.create({name!r}) for a fresh "
            f"model{default}, or load one of its weights: {', '.join(weights) or '(none registered)'}"
        )
    raise RegistryError(REGISTRY.unknown_message(
        "model or pretrained name", name, [*REGISTRY.models, *REGISTRY.pretrained, *REGISTRY.aliases]))


def pretrained_folder(
    spec: PretrainedSpec, *, token: str | bool | None = None, cache_dir: str | Path | None = None
) -> Path:
    """Materialise a pretrained spec as a local model folder."""
    from genae.hub import HUB_PREFIX, download_from_hub, parse_hub_name

    if spec.package_files:
        available, why = spec.availability()
        if not available:
            raise FileNotFoundError(f"pretrained {spec.name!r} (plugin {spec.plugin!r}): {why}; reinstall the "
                                    "package that provides it, or check its package-data")
        return Path(str(spec.packaged_folder()))
    if spec.hf_repo:
        return download_from_hub(*parse_hub_name(HUB_PREFIX + spec.hf_repo), cache_dir=cache_dir, token=token)
    return Path(import_object(spec.resolver)(spec))


def _load_pretrained(spec: PretrainedSpec, device: torch.device | str | None = None, **hub: Any) -> Any:
    from genae.hub import load_folder

    model = load_folder(pretrained_folder(spec, **hub), device=device)
    model.card.setdefault("load_name", spec.name)
    return model


def load(
    name_or_path: str | Path,
    device: torch.device | str | None = None,
    *,
    revision: str | None = None,
    token: str | bool | None = None,
    cache_dir: str | Path | None = None,
) -> GenerativeAutoencoder:
    """Load a model from a local folder, ``hf-hub:org/repo[@revision]``, or a pretrained name.

    ``revision``, ``token`` and ``cache_dir`` mean what they mean in ``huggingface_hub`` and apply to Hub
    downloads (a revision may also be written as ``@rev`` in the name, not both).
    """
    from genae.hub import HUB_PREFIX, download_from_hub, load_folder, parse_hub_name

    if not isinstance(name_or_path, (str, Path)) or not str(name_or_path):
        raise TypeError(f"name_or_path: expected a non-empty str or Path, got {name_or_path!r}")
    text = str(name_or_path)
    if text.startswith(HUB_PREFIX):
        repo_id, pinned = parse_hub_name(text)
        if pinned and revision and pinned != revision:
            raise ValueError(f"revision: {text!r} pins {pinned!r} but revision={revision!r} was also given")
        folder = download_from_hub(repo_id, pinned or revision, cache_dir=cache_dir, token=token)
        model = load_folder(folder, device=device)
        model.card.setdefault("load_name", text)
        return model
    if revision is not None:
        raise ValueError(f"revision: only hf-hub: names have revisions, got {text!r}")
    if isinstance(name_or_path, Path) or Path(text).exists() or "/" in text or text.startswith("."):
        if not Path(text).exists():
            raise FileNotFoundError(f"model folder {text!r} does not exist")
        return load_folder(text, device=device)
    return _load_pretrained(resolve_pretrained(text), device=device, token=token, cache_dir=cache_dir)
