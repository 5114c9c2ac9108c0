"""Model registry: architectures, pretrained weights, aliases and plugin CLI commands.

Plugins are found through the ``genae.plugins`` entry-point group. Each entry point names a
``register(registry)`` function that adds *specs*: cheap descriptions whose heavy parts (the model class,
the recipe, click commands) are ``"module:attr"`` strings imported only when used. So ``import genae``
and ``genae list`` never import a plugin's torch code.
"""

from __future__ import annotations

import difflib
import fnmatch
import importlib
import threading
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from importlib import metadata
from typing import Any

ENTRY_POINT_GROUP = "genae.plugins"


class RegistryError(LookupError):
    """A name that does not resolve, or two plugins claiming one name."""


def import_object(target: str | Callable[..., Any]) -> Any:
    """Resolve a ``"package.module:attr"`` string (or return a callable as is)."""
    if not isinstance(target, str):
        return target
    module_name, _, attr = target.partition(":")
    if not module_name or not attr:
        raise ValueError(f"expected 'module:attribute', got {target!r}")
    obj: Any = importlib.import_module(module_name)
    for part in attr.split("."):
        obj = getattr(obj, part)
    return obj


@dataclass
class ModelSpec:
    """An architecture: how to build it, train it, and what it is."""

    name: str
    model: str | Callable[..., Any]  # "module:Class" of a GenerativeAutoencoder subclass
    plugin: str = "user"
    defaults: dict[str, Any] = field(default_factory=dict)  # config overrides that define this name
    recipe: str | Callable[..., Any] | None = None  # "module:Class" of its training Recipe
    description: str = ""

    def model_class(self) -> Any:
        return import_object(self.model)


@dataclass
class PretrainedSpec:
    """Weights for an architecture, resolved to a local genae model folder on demand.

    Exactly one source: ``package_files`` (``"package:relative/dir"`` inside an installed package),
    ``hf_repo`` (``"org/repo[@revision]"``) or ``resolver`` (``"module:function"`` called with the spec,
    returning a folder; used for weights that must be downloaded and converted).
    """

    name: str
    architecture: str
    plugin: str = "user"
    dataset: str = ""
    resolution: int | None = None
    package_files: str | None = None
    hf_repo: str | None = None
    resolver: str | Callable[..., Any] | None = None
    source: str = ""  # human-readable provenance shown by `genae list --pretrained`
    aliases: tuple[str, ...] = ()
    description: str = ""

    def __post_init__(self) -> None:
        given = [s for s in (self.package_files, self.hf_repo, self.resolver) if s]
        if len(given) != 1:
            raise ValueError(
                f"pretrained {self.name!r}: give exactly one of package_files, hf_repo, resolver"
            )


@dataclass
class CommandSpec:
    name: str
    command: str | Callable[..., Any]  # "module:attr" of a click.Command
    plugin: str = "user"


class Registry:
    """Holds every spec; discovers plugins lazily on first use."""

    def __init__(self, group: str = ENTRY_POINT_GROUP) -> None:
        self.group = group
        self.models: dict[str, ModelSpec] = {}
        self.pretrained: dict[str, PretrainedSpec] = {}
        self.aliases: dict[str, str] = {}
        self.commands: dict[str, CommandSpec] = {}
        self.failed_plugins: dict[str, str] = {}
        self._discovered = False
        self._lock = threading.RLock()
        self._current_plugin = "user"

    # -- discovery ----------------------------------------------------------------------------------
    def discover(self, force: bool = False) -> None:
        """Run every plugin's ``register`` once. A broken plugin warns and is skipped."""
        with self._lock:
            if self._discovered and not force:
                return
            self._discovered = True
            for entry_point in sorted(metadata.entry_points(group=self.group), key=lambda e: e.name):
                self.load_plugin(entry_point.name, entry_point.value)

    def load_plugin(self, plugin: str, target: str | Callable[..., Any]) -> None:
        try:
            register = import_object(target)
            previous, self._current_plugin = self._current_plugin, plugin
            try:
                register(self)
            finally:
                self._current_plugin = previous
        except RegistryError:
            raise
        except Exception as error:  # noqa: BLE001 - any plugin failure must not break the others
            self.failed_plugins[plugin] = f"{type(error).__name__}: {error}"
            warnings.warn(
                f"genae plugin {plugin!r} ({target}) failed to load and was skipped: "
                f"{type(error).__name__}: {error}",
                RuntimeWarning,
                stacklevel=2,
            )

    # -- adding -------------------------------------------------------------------------------------
    def _claim(self, kind: str, name: str, table: dict[str, Any], plugin: str) -> None:
        if not name or not isinstance(name, str):
            raise ValueError(f"{kind} name must be a non-empty string, got {name!r}")
        owner = None
        if name in table:
            owner = table[name].plugin
        elif kind in ("model", "pretrained") and name in self.aliases:
            owner = f"alias of {self.aliases[name]}"
        if owner is not None:
            raise RegistryError(
                f"{kind} name {name!r} is registered twice: by plugin {owner!r} and by plugin {plugin!r}"
            )

    def add_model(self, spec: ModelSpec) -> ModelSpec:
        with self._lock:
            if spec.plugin == "user":
                spec.plugin = self._current_plugin
            self._claim("model", spec.name, self.models, spec.plugin)
            self.models[spec.name] = spec
            return spec

    def add_pretrained(self, spec: PretrainedSpec) -> PretrainedSpec:
        with self._lock:
            if spec.plugin == "user":
                spec.plugin = self._current_plugin
            self._claim("pretrained", spec.name, self.pretrained, spec.plugin)
            for alias in spec.aliases:
                self.add_alias(alias, spec.name)
            self.pretrained[spec.name] = spec
            return spec

    def add_alias(self, alias: str, target: str) -> None:
        with self._lock:
            if alias in self.models or alias in self.pretrained:
                raise RegistryError(f"alias {alias!r} collides with a registered name")
            if alias in self.aliases and self.aliases[alias] != target:
                raise RegistryError(
                    f"alias {alias!r} is registered twice: for {self.aliases[alias]!r} and for {target!r}"
                )
            self.aliases[alias] = target

    def add_command(self, spec: CommandSpec) -> None:
        with self._lock:
            if spec.plugin == "user":
                spec.plugin = self._current_plugin
            self._claim("command", spec.name, self.commands, spec.plugin)
            self.commands[spec.name] = spec

    # -- lookup -------------------------------------------------------------------------------------
    def canonical(self, name: str) -> str:
        self.discover()
        return self.aliases.get(name, name)

    def model_spec(self, name: str) -> ModelSpec:
        self.discover()
        key = self.canonical(name)
        if key not in self.models:
            raise RegistryError(self.unknown_message("model", name, list(self.models) + list(self.aliases)))
        return self.models[key]

    def pretrained_spec(self, name: str) -> PretrainedSpec:
        self.discover()
        key = self.canonical(name)
        if key not in self.pretrained:
            raise RegistryError(self.unknown_message("pretrained model", name, list(self.pretrained)))
        return self.pretrained[key]

    def list_models(self, pattern: str = "*", pretrained: bool = False) -> list[str]:
        self.discover()
        names = self.pretrained if pretrained else self.models
        return sorted(n for n in names if fnmatch.fnmatchcase(n, pattern))

    def unknown_message(self, kind: str, name: str, candidates: list[str]) -> str:
        close = difflib.get_close_matches(name, candidates, n=5, cutoff=0.5)
        hint = f"; did you mean: {', '.join(close)}?" if close else ""
        failed = (
            f" (plugins that failed to load: {', '.join(sorted(self.failed_plugins))})"
            if self.failed_plugins
            else ""
        )
        return f"unknown {kind} {name!r}{failed}{hint or '.'} See `genae list`."


#: The process-wide registry behind ``genae.create`` / ``genae.load`` / ``genae list``.
REGISTRY = Registry()
