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
    """Architecture names matching a shell-style pattern (case-insensitive); with ``pretrained=True`` only
    those that have weights, as in timm. :func:`list_pretrained` lists the weights themselves."""
    return REGISTRY.list_models(pattern, pretrained=pretrained)


def list_pretrained(pattern: str = "*") -> list[str]:
    """Pretrained weight names matching a shell-style pattern (case-insensitive), for ``genae.load``."""
    return REGISTRY.list_pretrained(pattern)


def create(
    name: str, pretrained: bool = False, *, device: torch.device | str | None = None, **overrides: Any
) -> GenerativeAutoencoder:
    """Build a model by architecture name; ``overrides`` set config fields (unknown ones are errors).

    With ``pretrained=True`` (as in timm) ``name`` may be an architecture, giving its default weights, a
    pretrained name or ``hf-hub:org/repo``; the weights fix the config, so overrides are refused.
    """
    from genae.hub import HUB_PREFIX

    if not isinstance(pretrained, bool):
        raise TypeError(f"pretrained: expected True or False, got {pretrained!r}")
    if pretrained and overrides:
        raise ValueError(f"create({name!r}, pretrained=True): the weights fix the config, so config "
                         f"overrides {sorted(overrides)} cannot be applied; drop them or use pretrained=False")
    if str(name).startswith(HUB_PREFIX):
        if not pretrained:
            raise ValueError(f"create({name!r}): a Hub repo holds trained weights; pass pretrained=True "
                             "(or use genae.load)")
        return load(name, device=device)
    if pretrained:
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
    package to install when the plugin that wrote it is missing.

    A name the registry does not know (registered at run time with :func:`register_model` by the process that
    saved it) is rebuilt from the importable class path recorded as ``model_class``, as diffusers'
    ``_class_name``; a model whose plugin package is recorded but missing still gets the ``pip install`` hint.
    """
    REGISTRY.discover()
    architecture, plugin = config["architecture"], config.get("plugin")
    try:
        spec = REGISTRY.model_for_folder(architecture, plugin, config.get("distribution"))
    except RegistryError:
        if not config.get("model_class") or config.get("distribution"):
            raise
        spec = ModelSpec(architecture, _importable_class(config["model_class"], architecture), plugin=plugin or "user")
    return build(spec, config["config"])


def _importable_class(path: str, architecture: str) -> Any:
    """The class at ``module:qualname``; a module that cannot be imported is a one-line error naming it. Standard
    library modules are refused unimported: no model lives there, and some act on import (``antigravity``)."""
    import sys

    module = path.partition(":")[0]
    if module.partition(".")[0] in sys.stdlib_module_names:
        raise RegistryError(f"architecture {architecture!r} is not registered and its recorded class {path!r} is in "
                            "the standard library, where no genae model lives; refusing to import it")
    try:
        return import_object(path)
    except ModuleNotFoundError as error:
        raise RegistryError(
            f"architecture {architecture!r} is not registered and its recorded class {path!r} cannot be imported: "
            f"no module named {error.name!r}; put the module that defines it on the Python path (PYTHONPATH) or "
            "install the package that provides it"
        ) from None
    except (AttributeError, ValueError) as error:
        raise RegistryError(f"architecture {architecture!r} is not registered and its recorded class {path!r} is "
                            f"not in module {module!r} ({error})") from None


def provenance(model: GenerativeAutoencoder) -> dict[str, Any]:
    """What ``config.json`` records about where a model's code came from: its plugin's distribution (so a missing
    plugin can be named) and its class as ``module:qualname`` when a new process could import it from there
    (not for a class defined in ``__main__`` or inside a function)."""
    recorded: dict[str, Any] = {}
    cls = type(model)
    if cls.__module__ != "__main__" and "<locals>" not in cls.__qualname__:
        recorded["model_class"] = f"{cls.__module__}:{cls.__qualname__}"
    info = REGISTRY.plugins.get(model.plugin)
    if info is not None and info.distribution:
        recorded["distribution"] = {"name": info.distribution, "version": info.version}
    return recorded


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


def pretrained_folder(spec: PretrainedSpec, **hub: Any) -> Path:
    """Materialise a pretrained spec as a local model folder; ``hub`` holds :func:`load`'s download options."""
    from genae.hub import HUB_PREFIX, download_from_hub, parse_hub_name

    if spec.package_files:
        available, why = spec.availability()
        if not available:
            raise FileNotFoundError(f"pretrained {spec.name!r} (plugin {spec.plugin!r}): {why}; reinstall the "
                                    "package that provides it, or check its package-data")
        return Path(str(spec.packaged_folder()))
    if spec.hf_repo:
        return download_from_hub(*parse_hub_name(HUB_PREFIX + spec.hf_repo), **hub)
    return Path(import_object(spec.resolver)(spec, **_resolver_options(spec, hub)))


def _resolver_options(spec: PretrainedSpec, hub: Mapping[str, Any]) -> dict[str, Any]:
    """The download options a plugin's resolver is asked to honour: only those set, and only if it takes them."""
    import inspect

    wanted = {k: True for k in ("local_files_only", "force_download") if hub.get(k)}
    if not wanted:
        return {}
    accepted = inspect.signature(import_object(spec.resolver)).parameters
    refused = [k for k in wanted if k not in accepted]
    if refused:
        raise ValueError(f"{', '.join(refused)}: the resolver of pretrained {spec.name!r} (plugin {spec.plugin!r}) "
                         "does not support it")
    return wanted


def _load_pretrained(spec: PretrainedSpec, device: torch.device | str | None = None, **hub: Any) -> Any:
    from genae.hub import load_folder

    model = load_folder(pretrained_folder(spec, **hub), device=device)
    model.card.setdefault("load_name", spec.name)
    return model


def load(
    name_or_path: str | Path,
    device: torch.device | str | None = None,
    *,
    dtype: torch.dtype | str | None = None,
    revision: str | None = None,
    token: str | bool | None = None,
    cache_dir: str | Path | None = None,
    local_files_only: bool = False,
    force_download: bool = False,
) -> GenerativeAutoencoder:
    """Load a model from a local folder, ``hf-hub:org/repo[@revision]``, a pretrained name, or a foreign
    weights file a plugin converts (an NVIDIA StyleGAN2-ADA ``.pkl``; converted once into the cache).

    ``revision``, ``token``, ``cache_dir``, ``local_files_only`` and ``force_download`` mean what they mean in
    ``huggingface_hub`` and apply to Hub downloads (a revision may also be written as ``@rev`` in the name, not
    both); the last two also reach plugins' download-and-convert weights. ``dtype`` casts the loaded weights
    (e.g. ``torch.float16`` or ``"bfloat16"``). A local folder wins over a registered name it shadows.
    """
    from genae.hub import HUB_PREFIX, download_from_hub, load_folder, parse_hub_name

    if not isinstance(name_or_path, (str, Path)) or not str(name_or_path):
        raise TypeError(f"name_or_path: expected a non-empty str or Path, got {name_or_path!r}")
    cast = _parse_dtype(dtype)
    if local_files_only and force_download:
        raise ValueError("force_download=True needs the network and local_files_only=True forbids it; pick one")
    hub = {"token": token, "cache_dir": cache_dir, "local_files_only": local_files_only,
           "force_download": force_download}
    text = str(name_or_path)
    if text.startswith(HUB_PREFIX):
        repo_id, pinned = parse_hub_name(text)
        if pinned and revision and pinned != revision:
            raise ValueError(f"revision: {text!r} pins {pinned!r} but revision={revision!r} was also given")
        model = load_folder(download_from_hub(repo_id, pinned or revision, **hub), device=device)
        model.card.setdefault("load_name", text)
    elif revision is not None:
        raise ValueError(f"revision: only hf-hub: names have revisions, got {text!r}")
    elif isinstance(name_or_path, Path) or Path(text).exists() or "/" in text or text.startswith("."):
        model = _load_local(text, cache_dir)
        if device is not None:
            model = model.to(device)
    else:
        model = _load_pretrained(resolve_pretrained(text), device=device, **hub)
    return model.to(cast) if cast is not None else model


def _load_local(text: str, cache_dir: str | Path | None = None) -> Any:
    """A local model folder; the errors say when the path looks like a Hub repo id or shadows a registered name.
    A file (an NVIDIA ``.pkl``) is a foreign format a plugin converts, once, into the cache."""
    from genae.hub import ModelFolderError, load_folder

    path = Path(text)
    if not path.exists():
        hint = (f"; for the Hugging Face Hub repo write genae.load('hf-hub:{text}')"
                if text.count("/") == 1 and not text.startswith((".", "/", "~")) else "")
        raise FileNotFoundError(f"model folder {text!r} does not exist{hint}")
    if path.is_file():
        from genae.foreign.files import converted_folder

        return load_folder(converted_folder(path, cache_dir))
    try:
        return load_folder(path)
    except ModelFolderError as error:
        REGISTRY.discover()
        registered = REGISTRY.find_pretrained(text) or REGISTRY.find_model(text)
        if registered is None:
            raise
        door = "load" if isinstance(registered, PretrainedSpec) else "create"
        raise ModelFolderError(
            f"{error}; the local folder {text!r} shadows the registered name {registered.name!r}: rename or move "
            f"the folder, or use genae.{door}({registered.qualified_name!r})"
        ) from error


def _parse_dtype(dtype: Any) -> Any:
    """``None``, a floating ``torch.dtype`` or its name (``"float16"``, ``"torch.bfloat16"``)."""
    if dtype is None:
        return None
    import torch

    value = getattr(torch, dtype.removeprefix("torch."), None) if isinstance(dtype, str) else dtype
    if not isinstance(value, torch.dtype) or not value.is_floating_point:
        raise TypeError(f"dtype: expected a floating torch.dtype or its name such as 'float16', got {dtype!r}")
    return value
