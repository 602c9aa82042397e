"""Plugin discovery: the built-in ``plugins`` package, plugin folders, entry points.

Discovery never crashes on a bad plugin: import errors, contract violations,
duplicate ids and clashing ``provides`` keys are recorded as problems (shown by
``qualia list`` and the API) and the plugin is skipped.
"""

from __future__ import annotations

import importlib
import importlib.util
import os
import pkgutil
import sys
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from importlib.metadata import entry_points
from pathlib import Path
from types import ModuleType
from typing import Any

from qualia_pipelines.core.contract import Plugin, QualiaError

ENTRY_POINT_GROUP = "qualia.plugins"
PLUGIN_PATH_ENV = "QUALIA_PLUGIN_PATH"
BUILTIN_PACKAGE = "qualia_plugins"  # the repository folder plugins/, installed under a unique name


class UnknownPluginError(QualiaError):
    """No registered plugin has the requested id."""


@dataclass(frozen=True)
class DiscoveryProblem:
    source: str
    message: str


@dataclass
class Registry:
    """The validated plugins by id, plus what went wrong while finding them."""

    plugins: dict[str, Plugin] = field(default_factory=dict)
    problems: list[DiscoveryProblem] = field(default_factory=list)

    def get(self, plugin_id: str) -> Plugin:
        try:
            return self.plugins[plugin_id]
        except KeyError:
            known = ", ".join(sorted(self.plugins)) or "none"
            raise UnknownPluginError(f"unknown plugin {plugin_id!r} (available: {known})") from None

    def of_kind(self, kind: str) -> list[Plugin]:
        return [plugin for plugin in self.plugins.values() if plugin.kind == kind]

    def add(self, candidate: Any, source: str) -> None:
        """Register ``candidate`` if it is a valid Plugin that clashes with nothing."""
        if not isinstance(candidate, Plugin):
            self.problems.append(DiscoveryProblem(source, "does not expose a qualia Plugin object"))
            return
        if candidate.id in self.plugins:
            first = self.plugins[candidate.id].source
            self.problems.append(DiscoveryProblem(source, f"plugin id {candidate.id!r} already registered by {first}"))
            return
        for other in self.plugins.values():
            clash = set(candidate.provides) & set(other.provides)
            if clash:
                keys = ", ".join(sorted(clash))
                message = f"plugin {candidate.id!r} provides {keys}, already provided by {other.id!r}"
                self.problems.append(DiscoveryProblem(source, message))
                return
        self.plugins[candidate.id] = _with_source(candidate, source)


def _with_source(plugin: Plugin, source: str) -> Plugin:
    return plugin if plugin.source else replace(plugin, source=source)


def discover(plugin_dirs: Sequence[str | os.PathLike[str]] = ()) -> Registry:
    """Find every plugin: built-ins, then folders, then installed packages."""
    registry = Registry()
    for source, load in _candidates(plugin_dirs):
        try:
            registry.add(load(), source)
        except Exception as exc:  # a broken plugin must not take discovery down
            registry.problems.append(DiscoveryProblem(source, f"{type(exc).__name__}: {exc}"))
    return registry


def _candidates(plugin_dirs: Sequence[str | os.PathLike[str]]) -> Iterator[tuple[str, Any]]:
    yield from _builtin_candidates()
    env_dirs = [d for d in os.environ.get(PLUGIN_PATH_ENV, "").split(os.pathsep) if d]
    for directory in [*plugin_dirs, *env_dirs]:
        yield from _folder_candidates(Path(directory))
    yield from _entry_point_candidates()


def _builtin_candidates() -> Iterator[tuple[str, Any]]:
    package = importlib.import_module(BUILTIN_PACKAGE)
    for info in sorted(pkgutil.iter_modules(package.__path__), key=lambda i: i.name):
        if info.name.startswith("_"):
            continue
        name = f"{BUILTIN_PACKAGE}.{info.name}"
        yield f"built-in {info.name}", lambda name=name: _plugin_attribute(importlib.import_module(name))


def _folder_candidates(directory: Path) -> Iterator[tuple[str, Any]]:
    if not directory.is_dir():
        return
    for path in sorted(directory.iterdir()):
        if path.name.startswith(("_", ".")):
            continue
        if path.is_dir() and (path / "__init__.py").is_file():
            yield str(path), lambda path=path: _plugin_attribute(_load_file(path / "__init__.py", path.name))
        elif path.suffix == ".py":
            yield str(path), lambda path=path: _plugin_attribute(_load_file(path, path.stem))


def _entry_point_candidates() -> Iterable[tuple[str, Any]]:
    for entry in entry_points(group=ENTRY_POINT_GROUP):
        yield f"entry point {entry.name} ({entry.value})", lambda entry=entry: _plugin_attribute(entry.load())


def _load_file(path: Path, name: str) -> ModuleType:
    module_name = f"qualia_local_plugins.{name}"
    spec = importlib.util.spec_from_file_location(module_name, path)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot import {path}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module
    spec.loader.exec_module(module)
    return module


def _plugin_attribute(loaded: Any) -> Any:
    """Entry points may name the Plugin itself or a module exposing ``plugin``."""
    if isinstance(loaded, ModuleType):
        if not hasattr(loaded, "plugin"):
            raise AttributeError(f"module {loaded.__name__} has no 'plugin' attribute")
        return loaded.plugin
    return loaded
