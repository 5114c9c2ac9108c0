"""Model registry: architectures, pretrained weights, aliases and plugin CLI commands.

Plugins are found through the ``genae.plugins`` entry-point group. Each entry point names a
``register(registry)`` function that adds *specs*: cheap descriptions whose heavy parts (the model class,
the recipe, click commands) are ``"module:attr"`` strings imported only when used. So ``import genae``
and ``genae list`` never import a plugin's torch code.

Rules that keep one plugin from breaking another:

- names are case-insensitive (stored lower-case) and may not contain ``:``;
- a plugin registers atomically: if its ``register`` raises, none of its names stay registered;
- genae's own plugins load first and keep their names: a third-party plugin registering one of them is
  reported once (naming both plugins) and its spec stays reachable as ``plugin:name`` (every spec is);
- third-party plugins do not outrank each other (no install or sort order decides): a name that two of them
  register is *ambiguous*, held by neither; the clash is reported once, and the bare name is refused with an
  error listing the ``plugin:name`` choices, so installing an unrelated plugin never silently changes what a
  name builds;
- a pretrained weight is an (architecture, tag) pair: names resolve by those pairs, never by string prefixes.
"""

from __future__ import annotations

import difflib
import fnmatch
import importlib
import importlib.resources
import threading
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

from genae._version import __version__
from genae.requirements import unmet_requirement

ENTRY_POINT_GROUP = "genae.plugins"
BUILTIN_DISTRIBUTION = "genae"
#: Datasets that are subsets of another: weights for the parent are the weights for them (the shipped
#: ``fashion-mnist-mini`` images are drawn from the Fashion-MNIST test split).
DATASET_PARENTS = {"fashion-mnist-mini": "fashion-mnist"}


class RegistryError(LookupError):
    """A name that does not resolve, or two registrations claiming one name."""


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


def normalise_name(kind: str, name: object) -> str:
    """The registry key of ``name``: lower-case, stripped; ``:`` is reserved for ``plugin:name``."""
    if not isinstance(name, str) or not name.strip():
        raise ValueError(f"{kind} name must be a non-empty string, got {name!r}")
    key = name.strip().lower()
    if ":" in key or any(c.isspace() for c in key):
        raise ValueError(f"{kind} name {name!r} may not contain ':' or whitespace")
    return key


@dataclass
class ModelSpec:
    """An architecture: how to build it, train it, and what it is."""

    name: str
    model: str | Callable[..., Any]  # "module:Class" of a GenerativeAutoencoder subclass
    plugin: str = "user"
    defaults: dict[str, Any] = field(default_factory=dict)  # config overrides that define this name
    recipe: str | Callable[..., Any] | None = None  # "module:Class" of its training Recipe
    description: str = ""

    def __post_init__(self) -> None:
        self.name = normalise_name("model", self.name)

    @property
    def qualified_name(self) -> str:
        return f"{self.plugin}:{self.name}"

    def model_class(self) -> Any:
        return import_object(self.model)


@dataclass
class PretrainedSpec:
    """Weights for an architecture, resolved to a local genae model folder on demand.

    Exactly one source: ``package_files`` (``"package:relative/dir"`` inside an installed package),
    ``hf_repo`` (``"org/repo[@revision]"``) or ``resolver`` (``"module:function"`` called with the spec,
    returning a folder; used for weights that must be downloaded and converted). The *tag* is what the name
    adds to the architecture (``vae-adain-fashion-mnist-32`` = ``vae-adain`` + ``fashion-mnist-32``); the first
    weights registered for an architecture are its default (``genae.create(arch, pretrained=True)``).

    What a resolver will do is described by ``download_url`` (the file it fetches), ``download_mb`` (its size),
    ``checksum`` (``"sha256:<hex>"`` or ``"md5:<hex>"`` it is checked against) and ``manual_step`` (what a user
    must do by hand first, when no download can produce the weights); :meth:`availability` turns them into the
    status ``genae list --pretrained`` shows. A resolver keeps its result in ``<cache>/official/<name>/``
    (:func:`genae.io.cache_root`), so a finished conversion shows as cached.
    """

    name: str
    architecture: str
    plugin: str = "user"
    dataset: str = ""
    resolution: int | None = None
    package_files: str | None = None
    hf_repo: str | None = None
    resolver: str | Callable[..., Any] | None = None
    source: str = ""  # human-readable provenance shown by `genae info`
    aliases: tuple[str, ...] = ()
    description: str = ""
    download_url: str | None = None
    download_mb: float | None = None
    checksum: str | None = None
    manual_step: str | None = None

    def __post_init__(self) -> None:
        self.name = normalise_name("pretrained", self.name)
        self.architecture = normalise_name("architecture", self.architecture)
        self.dataset = self.dataset.strip().lower()
        given = [s for s in (self.package_files, self.hf_repo, self.resolver) if s]
        if len(given) != 1:
            raise ValueError(
                f"pretrained {self.name!r}: give exactly one of package_files, hf_repo, resolver"
            )
        if self.checksum and self.checksum.partition(":")[0] not in ("sha256", "md5"):
            raise ValueError(f"pretrained {self.name!r}: checksum must be 'sha256:<hex>' or 'md5:<hex>', "
                             f"got {self.checksum!r}")

    @property
    def qualified_name(self) -> str:
        return f"{self.plugin}:{self.name}"

    @property
    def tag(self) -> str:
        prefix = self.architecture + "-"
        return self.name[len(prefix):] if self.name.startswith(prefix) else self.name

    def packaged_folder(self) -> Any:
        """The packaged folder (an importlib.resources Traversable); imports the package, never torch."""
        if not self.package_files:
            raise ValueError(f"pretrained {self.name!r} is not packaged")
        package, _, relative = self.package_files.partition(":")
        return importlib.resources.files(package).joinpath(relative)

    def availability(self) -> tuple[bool, str]:
        """``(loads without a manual step, exactly what loading will do)``; reads files and the environment only
        (no network, no torch)."""
        if self.package_files:
            try:
                folder = self.packaged_folder()
            except ModuleNotFoundError as error:
                return False, f"missing: package {error.name!r} is not installed"
            absent = [f for f in ("config.json", "model.safetensors") if not folder.joinpath(f).is_file()]
            if absent:
                return False, f"missing: the installed package has no {' or '.join(absent)} for it"
            return True, "bundled"
        if self.hf_repo:
            return True, f"downloads hf-hub:{self.hf_repo} on first use (into the Hugging Face cache)"
        from genae.downloads import is_offline
        from genae.io import cache_root

        cached = cache_root() / "official" / self.name
        if (cached / "config.json").is_file():
            return True, f"cached at {cached}"
        if self.manual_step:
            return False, f"needs a manual step: {self.manual_step}"
        if not self.download_url:
            return True, "made on first use by its plugin's resolver (no download recorded)"
        size = f"{self.download_mb:,.0f} MB" if self.download_mb else "size not recorded"
        check = f"checks {self.checksum.partition(':')[0]}" if self.checksum else "no checksum recorded"
        plan = f"downloads {self.download_url} ({size}, {check}) on first use and converts it into {cached}"
        return (False, f"offline, so it fails: {plan}") if is_offline() else (True, plan)


@dataclass
class CommandSpec:
    name: str
    command: str | Callable[..., Any]  # "module:attr" of a click.Command
    plugin: str = "user"

    def __post_init__(self) -> None:
        self.name = ".".join(normalise_name("command", part) for part in str(self.name).split("."))


@dataclass
class FileFormatSpec:
    """A foreign weights file that ``genae.load(path)`` converts on first use (into the cache).

    ``sniff`` (``"module:function"``, path → bool) recognises the format from the file's bytes; ``convert``
    (``"module:function"``, (file, out_dir) → folder) writes a genae model folder.
    """

    name: str
    sniff: str | Callable[..., Any]
    convert: str | Callable[..., Any]
    plugin: str = "user"
    description: str = ""


@dataclass
class PluginInfo:
    """Where a plugin came from (recorded in saved models) and whether it loaded."""

    name: str
    target: str
    distribution: str | None = None
    version: str | None = None
    error: str | None = None

    @property
    def builtin(self) -> bool:
        return self.distribution == BUILTIN_DISTRIBUTION


class Registry:
    """Holds every spec; discovers plugins lazily on first use."""

    def __init__(self, group: str = ENTRY_POINT_GROUP) -> None:
        self.group = group
        self.models: dict[str, ModelSpec] = {}
        self.pretrained: dict[str, PretrainedSpec] = {}
        self.aliases: dict[str, str] = {}
        self.commands: dict[str, CommandSpec] = {}
        self.file_formats: dict[str, FileFormatSpec] = {}
        #: Specs that lost a name clash, reachable only as ``plugin:name``.
        self.shadowed: dict[str, ModelSpec | PretrainedSpec] = {}
        #: Names two third-party plugins register, with the ``plugin:name`` choices a user must pick from.
        self.ambiguous: dict[str, tuple[str, ...]] = {}
        #: The plugin that added each alias (None at run time): an alias can clash like any name.
        self.alias_plugins: dict[str, str | None] = {}
        self.plugins: dict[str, PluginInfo] = {}
        #: One line per clash or plugin failure; each is warned once, when its plugin loads.
        self.problems: list[str] = []
        self._discovered = False
        self._lock = threading.RLock()
        self._current_plugin: str | None = None

    @property
    def failed_plugins(self) -> dict[str, str]:
        return {name: info.error for name, info in self.plugins.items() if info.error}

    # -- discovery ----------------------------------------------------------------------------------
    def discover(self, force: bool = False) -> None:
        """Run every plugin's ``register`` once: genae's own plugins first, then the others by name."""
        with self._lock:
            if self._discovered and not force:
                return
            self._discovered = True
            entries = {}
            for entry_point in metadata.entry_points(group=self.group):
                dist = getattr(entry_point, "dist", None)
                dist_name = dist.metadata["Name"] if dist is not None else None
                entries.setdefault(entry_point.name, (entry_point, dist_name, dist.version if dist else None,
                                                      dist.requires if dist else None))
            order = sorted(entries.values(), key=lambda e: (e[1] != BUILTIN_DISTRIBUTION, e[0].name))
            for entry_point, dist_name, version, requires in order:
                self.load_plugin(entry_point.name, entry_point.value, distribution=dist_name, version=version,
                                 requires=requires)

    def load_plugin(
        self,
        plugin: str,
        target: str | Callable[..., Any],
        distribution: str | None = None,
        version: str | None = None,
        requires: list[str] | None = None,
    ) -> bool:
        """Run one plugin's ``register``; all of its names register, or (if it raises) none. True if it loaded.

        ``requires`` are its distribution's ``Requires-Dist`` lines: a plugin that needs a newer genae than the
        installed one is skipped (reported like a failure) before it can fail later on a missing API."""
        info = PluginInfo(plugin, target if isinstance(target, str) else repr(target), distribution, version)
        with self._lock:
            self.plugins[plugin] = info
            reported = len(self.problems)
            needed = None if info.builtin else unmet_requirement(requires, BUILTIN_DISTRIBUTION, __version__)
            if needed is not None:
                package = f"{distribution} {version}" if version else distribution
                info.error = (f"{package} needs genae{needed} but genae {__version__} is installed; upgrade genae: "
                              f"pip install -U 'genae{needed}'")
                self.problems.append(f"genae plugin {plugin!r} ({info.target}) was skipped: {info.error}")
                warnings.warn(self.problems[-1], RuntimeWarning, stacklevel=2)
                return False
            try:
                with self._transaction(), self._as_plugin(plugin):
                    import_object(target)(self)
            except Exception as error:  # noqa: BLE001 - any plugin failure must not break the others
                info.error = f"{type(error).__name__}: {error}"
                self.problems.append(
                    f"genae plugin {plugin!r} ({info.target}) failed to load and none of its names were "
                    f"registered: {info.error}"
                )
            for message in self.problems[reported:]:
                warnings.warn(message, RuntimeWarning, stacklevel=2)
            return info.error is None

    @contextmanager
    def _transaction(self) -> Iterator[None]:
        tables = (self.models, self.pretrained, self.aliases, self.commands, self.shadowed, self.file_formats,
                  self.ambiguous, self.alias_plugins)
        saved = [dict(t) for t in tables]
        problems = len(self.problems)
        try:
            yield
        except BaseException:
            for table, before in zip(tables, saved):
                table.clear()
                table.update(before)
            del self.problems[problems:]
            raise

    @contextmanager
    def _as_plugin(self, plugin: str) -> Iterator[None]:
        previous, self._current_plugin = self._current_plugin, plugin
        try:
            yield
        finally:
            self._current_plugin = previous

    # -- adding -------------------------------------------------------------------------------------
    def _owner_of(self, key: str) -> str | None:
        """Who holds ``key`` among model, pretrained and alias names (they share one namespace)."""
        if key in self.models:
            return f"plugin {self.models[key].plugin!r}"
        if key in self.pretrained:
            return f"plugin {self.pretrained[key].plugin!r}"
        if key in self.aliases:
            return f"an alias of {self.aliases[key]!r}"
        if key in self.ambiguous:
            return f"third-party plugins, ambiguously ({', '.join(self.ambiguous[key])})"
        return None

    def _third_party(self, plugin: str | None) -> bool:
        info = self.plugins.get(plugin) if plugin else None
        return info is not None and not info.builtin

    def _holder_plugin(self, key: str) -> str | None:
        spec = self.models.get(key) or self.pretrained.get(key)
        return spec.plugin if spec is not None else self.alias_plugins.get(key)

    def _contested(self, key: str, choice: str) -> bool:
        """Whether the plugin registering ``choice`` (its ``plugin:name``) for ``key`` makes or joins an
        ambiguity: it and the holder are different third-party plugins. The holder then gives the bare name up;
        each plugin joining the clash is reported once."""
        plugin = self._current_plugin
        if not self._third_party(plugin):
            return False
        if key not in self.ambiguous:
            holder = self._holder_plugin(key)
            if holder == plugin or not self._third_party(holder):
                return False
            self.ambiguous[key] = (self._give_up(key),)
        self.ambiguous[key] = choices = tuple(sorted({*self.ambiguous[key], choice}))
        self.problems.append(
            f"genae plugin {plugin!r} registers {key!r}, as do third-party plugins "
            f"{', '.join(repr(c.partition(':')[0]) for c in choices if c != choice)}: none of them outranks the "
            f"others, so the bare name {key!r} is refused; use {' or '.join(map(repr, choices))}"
        )
        return True

    def _give_up(self, key: str) -> str:
        """Move what holds ``key`` out of the bare namespace; returns its ``plugin:name``."""
        for table in (self.models, self.pretrained):
            if key in table:
                spec = table.pop(key)
                self.shadowed[spec.qualified_name] = spec
                return spec.qualified_name
        target, plugin = self.aliases.pop(key), self.alias_plugins.pop(key, None)
        return f"{plugin}:{target}"

    def _stamp(self, spec: Any) -> None:
        if spec.plugin == "user" and self._current_plugin:
            spec.plugin = self._current_plugin

    def _claim(self, kind: str, spec: ModelSpec | PretrainedSpec) -> bool:
        """True if ``spec.name`` is free. A clash during plugin discovery with another plugin's name is
        reported and the spec shadowed (reachable as ``plugin:name``): the name stays genae's, or becomes
        ambiguous between third-party plugins; any other clash is an error."""
        owner = self._owner_of(spec.name)
        if owner is None:
            return True
        same_plugin = owner == f"plugin {spec.plugin!r}" or spec.qualified_name in self.ambiguous.get(spec.name, ())
        if self._current_plugin is None or same_plugin:
            raise RegistryError(f"{kind} name {spec.name!r} is registered twice: by {owner} and by plugin "
                                f"{spec.plugin!r}")
        self.shadowed[spec.qualified_name] = spec
        if self._contested(spec.name, spec.qualified_name):
            return False
        self.problems.append(
            f"genae plugin {spec.plugin!r} registers {kind} {spec.name!r}, already registered by {owner}, "
            f"which keeps it; {spec.qualified_name!r} names the {kind} of plugin {spec.plugin!r}"
        )
        return False

    def add_model(self, spec: ModelSpec) -> ModelSpec:
        with self._lock:
            self._stamp(spec)
            if self._claim("model", spec):
                self.models[spec.name] = spec
            return spec

    def add_pretrained(self, spec: PretrainedSpec) -> PretrainedSpec:
        with self._lock:
            self._stamp(spec)
            if self._claim("pretrained", spec):
                self.pretrained[spec.name] = spec
                for alias in spec.aliases:
                    self.add_alias(alias, spec.name)
            return spec

    def add_alias(self, alias: str, target: str) -> None:
        with self._lock:
            key, target = normalise_name("alias", alias), normalise_name("alias target", target)
            if self.aliases.get(key) == target:
                return
            owner = self._owner_of(key)
            if owner is None:
                self.aliases[key] = target
                self.alias_plugins[key] = self._current_plugin
            elif self._current_plugin is None:
                raise RegistryError(f"alias {alias!r} for {target!r} is registered twice: {alias!r} is {owner}")
            elif not self._contested(key, f"{self._current_plugin}:{target}"):
                self.problems.append(f"genae plugin {self._current_plugin!r}: alias {alias!r} for {target!r} is not "
                             f"added, {alias!r} is already {owner}")

    def add_command(self, spec: CommandSpec) -> None:
        with self._lock:
            self._stamp(spec)
            if spec.name not in self.commands:
                self.commands[spec.name] = spec
            elif self._current_plugin is None or self.commands[spec.name].plugin == spec.plugin:
                raise RegistryError(f"command {spec.name!r} is registered twice: by plugin "
                                    f"{self.commands[spec.name].plugin!r} and by plugin {spec.plugin!r}")
            else:
                self.problems.append(f"genae plugin {spec.plugin!r}: command {spec.name!r} is not added, plugin "
                             f"{self.commands[spec.name].plugin!r} already has it")

    def add_file_format(self, spec: FileFormatSpec) -> None:
        with self._lock:
            self._stamp(spec)
            self.file_formats.setdefault(spec.name, spec)

    # -- lookup -------------------------------------------------------------------------------------
    def find_file_format(self, path: str | Path) -> FileFormatSpec | None:
        """The first registered format whose ``sniff`` recognises the file at ``path``."""
        self.discover()
        return next((f for f in self.file_formats.values() if import_object(f.sniff)(path)), None)

    def canonical(self, name: str) -> str:
        """The registry key for a name or alias (case-insensitive); ``plugin:name`` is returned as given."""
        self.discover()
        key = str(name).strip().lower()
        if key in self.ambiguous:
            raise RegistryError(f"{name!r} is ambiguous: third-party plugins "
                                f"{' and '.join(repr(c.partition(':')[0]) for c in self.ambiguous[key])} each "
                                f"register it; pick one: {', '.join(self.ambiguous[key])}")
        return self.aliases.get(key, key)

    def _qualified(self, key: str, table: dict[str, Any], kind: type) -> Any:
        """``plugin:name``: the plugin's own spec, whether it holds the plain name or lost it in a clash."""
        plugin, _, name = key.partition(":")
        spec = table.get(self.aliases.get(name, name))
        if spec is not None and spec.plugin == plugin:
            return spec
        shadowed = self.shadowed.get(key)
        return shadowed if isinstance(shadowed, kind) else None

    def find_model(self, name: str) -> ModelSpec | None:
        key = self.canonical(name)
        spec = self._qualified(key, self.models, ModelSpec) if ":" in key else self.models.get(key)
        return spec

    def find_pretrained(self, name: str) -> PretrainedSpec | None:
        """Weights by exact name, alias or ``plugin:name``; else by an (architecture, dataset) pair such as
        ``vae-adain-fashion-mnist`` when exactly one resolution exists. Never by a bare prefix."""
        key = self.canonical(name)
        spec = self._qualified(key, self.pretrained, PretrainedSpec) if ":" in key else self.pretrained.get(key)
        if spec is not None:
            return spec
        pairs = [s for s in self.pretrained.values()
                 if key.startswith(s.architecture + "-") and key[len(s.architecture) + 1:] == s.dataset]
        return pairs[0] if len(pairs) == 1 else None

    def model_spec(self, name: str) -> ModelSpec:
        spec = self.find_model(name)
        if spec is not None:
            return spec
        weights = self.find_pretrained(name)
        if weights is not None:
            raise RegistryError(
                f"{name!r} names pretrained weights of architecture {weights.architecture!r}: use "
                f"genae.load({weights.name!r}) or genae.create({weights.name!r}, pretrained=True); "
                f"genae.create({weights.architecture!r}) builds a fresh model"
            )
        raise RegistryError(self.unknown_message("model", name, [*self.models, *self.aliases]))

    def weights_of(self, architecture: str) -> list[PretrainedSpec]:
        """The pretrained specs of one architecture, in registration order (the first is its default)."""
        key = self.canonical(architecture)
        return [s for s in self.pretrained.values() if s.architecture == key]

    def pretrained_for(self, name: str, dataset: str | None = None) -> PretrainedSpec:
        """``name`` as weights: weights names resolve as themselves; an architecture (or alias) resolves to its
        weights for ``dataset`` (its default when ``dataset`` is None). Errors list what exists."""
        spec = self.find_pretrained(name)
        if spec is not None:
            return spec
        model = self.find_model(name)
        if model is None:
            raise RegistryError(self.unknown_message(
                "model or pretrained name", name, [*self.models, *self.pretrained, *self.aliases]))
        weights = self.weights_of(model.name)
        have = ", ".join(f"{s.name} ({s.dataset or 'dataset unknown'})" for s in weights) or "none"
        if dataset is None:
            if not weights:
                raise RegistryError(f"architecture {model.name!r} has no pretrained weights registered")
            return weights[0]
        wanted = dataset.strip().lower()
        on_data = [s for s in weights if s.dataset == wanted]
        if not on_data and wanted in DATASET_PARENTS:
            on_data = [s for s in weights if s.dataset == DATASET_PARENTS[wanted]]
        if len(on_data) == 1:
            return on_data[0]
        if on_data:
            raise RegistryError(f"{name!r} has several pretrained weights for {dataset!r}: "
                                f"{', '.join(s.name for s in on_data)}; pick one")
        on_dataset = ", ".join(s.name for s in self.pretrained.values() if s.dataset == dataset.strip().lower())
        raise RegistryError(f"architecture {name!r} has no pretrained weights for dataset {dataset!r}; "
                            f"weights of {model.name!r}: {have}; weights for {dataset!r}: {on_dataset or 'none'}")

    def model_for_folder(self, architecture: str, plugin: str | None,
                         distribution: dict[str, Any] | None = None) -> ModelSpec:
        """The spec that rebuilds a saved model: its plugin's own architecture first (it may be shadowed)."""
        if plugin:
            spec = self.find_model(f"{plugin}:{architecture}")
            if spec is not None:
                return spec
        spec = self.find_model(architecture)
        if spec is not None:
            return spec
        dist = (distribution or {}).get("name")
        if plugin and plugin not in self.plugins and dist:
            version = (distribution or {}).get("version")
            raise RegistryError(
                f"architecture {architecture!r} comes from plugin {plugin!r} of the package {dist!r}"
                f"{f' {version}' if version else ''}, which is not installed: pip install {dist}"
            )
        if plugin and plugin in self.failed_plugins:
            raise RegistryError(f"architecture {architecture!r} comes from plugin {plugin!r}, which failed to "
                                f"load: {self.failed_plugins[plugin]}")
        where = f" (saved from plugin {plugin!r}, which is not installed)" if plugin and plugin not in self.plugins \
            else ""
        raise RegistryError(self.unknown_message(f"model{where}", architecture, list(self.models)))

    def list_models(self, pattern: str = "*", pretrained: bool = False) -> list[str]:
        """Architectures matching ``pattern``; with ``pretrained`` only those with registered weights (timm's)."""
        self.discover()
        with_weights = {s.architecture for s in self.pretrained.values()}
        return _matching(pattern, [n for n in self.models if not pretrained or n in with_weights])

    def list_pretrained(self, pattern: str = "*") -> list[str]:
        """Pretrained weight names matching ``pattern``."""
        self.discover()
        return _matching(pattern, list(self.pretrained))

    def unknown_message(self, kind: str, name: str, candidates: list[str]) -> str:
        close = difflib.get_close_matches(str(name).lower(), candidates, n=5, cutoff=0.5)
        hint = f"; did you mean: {', '.join(close)}?" if close else ""
        failed = (
            f" (plugins that failed to load: {', '.join(sorted(self.failed_plugins))})"
            if self.failed_plugins
            else ""
        )
        return f"unknown {kind} {name!r}{failed}{hint or '.'} See `genae list`."


def _matching(pattern: str, names: list[str]) -> list[str]:
    if not isinstance(pattern, str):
        raise TypeError(f"pattern: expected a shell-style pattern string, got {pattern!r}")
    return sorted(n for n in names if fnmatch.fnmatchcase(n, pattern.lower()))


#: The process-wide registry behind ``genae.create`` / ``genae.load`` / ``genae list``.
REGISTRY = Registry()
