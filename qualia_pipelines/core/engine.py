"""The engine: run a plugin and its dependencies on one transcript, in-process.

CLI, API and Dagster all call this, so one transcript with one set of
parameters gives the same numbers everywhere. Parameters for the whole chain
are validated before anything runs; results are cached by content hash, so a
cache hit costs a file read, a hash and an unpickle — no parsing, no analysis.
"""

from __future__ import annotations

import hashlib
import os
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from qualia_pipelines.core.cache import ResultCache, cache_key, is_missing
from qualia_pipelines.core.contract import TRANSCRIPT_KEY, Plugin, PluginInputError, QualiaError
from qualia_pipelines.core.readers import (
    DEFAULT_MAX_BYTES,
    read_file_bytes,
    transcript_from_bytes,
    transcript_from_text,
)
from qualia_pipelines.core.registry import Registry, discover
from qualia_pipelines.core.resolver import direct_dependencies, execution_order, providers
from qualia_pipelines.core.storage import to_jsonable
from qualia_pipelines.core.transcript import Transcript

if TYPE_CHECKING:
    from qualia_pipelines.core.settings import Settings

ParamsByPlugin = Mapping[str, Mapping[str, Any]]


class PluginExecutionError(QualiaError):
    """A plugin raised an unexpected exception or broke its ``provides`` promise."""


@dataclass(frozen=True)
class StepRecord:
    """Provenance of one plugin run inside a chain."""

    plugin: str
    version: str
    parameters: dict[str, Any]
    cache_hit: bool
    seconds: float


@dataclass(frozen=True)
class RunResult:
    plugin: Plugin
    values: dict[str, Any]
    source: str
    content_hash: str
    steps: tuple[StepRecord, ...] = field(default_factory=tuple)

    @property
    def parameters(self) -> dict[str, Any]:
        return next(step.parameters for step in self.steps if step.plugin == self.plugin.id)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready record: the values plus everything needed to reproduce them."""
        return {
            "plugin": self.plugin.id,
            "version": self.plugin.version,
            "kind": self.plugin.kind,
            "source": self.source,
            "content_hash": self.content_hash,
            "parameters": self.parameters,
            "values": to_jsonable(self.values),
            "provenance": [to_jsonable(step.__dict__) for step in self.steps],
        }


class Engine:
    """Runs plugins from one registry, with an optional on-disk cache."""

    def __init__(
        self,
        registry: Registry | None = None,
        cache: ResultCache | None = None,
        max_bytes: int = DEFAULT_MAX_BYTES,
        defaults: ParamsByPlugin | None = None,
    ) -> None:
        self.registry = registry if registry is not None else discover()
        self.cache = cache
        self.max_bytes = max_bytes
        self.defaults = {plugin: dict(values) for plugin, values in (defaults or {}).items()}

    @classmethod
    def from_settings(cls, settings: Settings, use_cache: bool = True) -> Engine:
        """An engine wired to the settings: plugin folders, cache, size limit, default parameters."""
        cache = ResultCache(settings.cache_path) if use_cache and settings.cache else None
        return cls(
            discover(settings.plugin_dirs), cache=cache, max_bytes=settings.max_bytes, defaults=settings.parameters
        )

    def run_file(self, plugin_id: str, path: str | os.PathLike[str], params: ParamsByPlugin | None = None) -> RunResult:
        """Run ``plugin_id`` on a file; on a cache hit the file is hashed, not parsed."""
        file = Path(path)
        data = read_file_bytes(file, self.max_bytes)
        content_hash = hashlib.sha256(data).hexdigest()

        def load() -> Transcript:
            return transcript_from_bytes(data, file.name, source=str(file), max_bytes=self.max_bytes)

        return self._run(plugin_id, str(file), content_hash, load, params)

    def run_text(
        self, plugin_id: str, text: str, params: ParamsByPlugin | None = None, source: str = "<text>"
    ) -> RunResult:
        """Run ``plugin_id`` on text handed over directly; on a cache hit the text is hashed, not parsed."""
        content_hash = hashlib.sha256(text.encode("utf-8")).hexdigest()
        return self._run(plugin_id, source, content_hash, lambda: transcript_from_text(text, source), params)

    def run(self, plugin_id: str, transcript: Transcript, params: ParamsByPlugin | None = None) -> RunResult:
        return self._run(plugin_id, transcript.source, transcript.content_hash, lambda: transcript, params)

    def validated_parameters(self, plugin_ids: list[str], params: ParamsByPlugin | None) -> dict[str, dict[str, Any]]:
        """Configured defaults overlaid with ``params`` for each plugin, all checked."""
        params = params or {}
        for plugin_id in [*params, *self.defaults]:
            self.registry.get(plugin_id)  # parameters for an unknown plugin are an error
        return {
            plugin_id: self.registry.get(plugin_id).validated(
                {**self.defaults.get(plugin_id, {}), **params.get(plugin_id, {})}
            )
            for plugin_id in plugin_ids
        }

    def run_plugin(
        self, plugin_id: str, inputs: Mapping[str, Any], params: Mapping[str, Any] | None = None
    ) -> dict[str, Any]:
        """Run one plugin on inputs supplied by the caller (no dependencies, no cache)."""
        plugin = self.registry.get(plugin_id)
        missing = [key for key in plugin.requires if key not in inputs]
        if missing:
            raise PluginInputError(f"plugin {plugin_id!r} needs input {', '.join(missing)}")
        validated = self.validated_parameters([plugin_id], {plugin_id: dict(params or {})})[plugin_id]
        return _execute(plugin, {key: inputs[key] for key in plugin.requires}, validated, "<inputs>")

    def _run(
        self,
        plugin_id: str,
        source: str,
        content_hash: str,
        load: Callable[[], Transcript],
        params: ParamsByPlugin | None,
    ) -> RunResult:
        order = execution_order(self.registry, plugin_id)
        validated = self.validated_parameters([plugin.id for plugin in order], params)
        keys: dict[str, str] = {}
        for plugin in order:
            upstream = [keys[dep] for dep in direct_dependencies(self.registry, plugin)]
            keys[plugin.id] = cache_key(content_hash, plugin.id, plugin.version, validated[plugin.id], upstream)
        chain = _Chain(self, order, validated, keys, source, load)
        values = chain.values_of(plugin_id)
        return RunResult(
            plugin=self.registry.get(plugin_id),
            values=values,
            source=source,
            content_hash=content_hash,
            steps=tuple(chain.steps),
        )


class _Chain:
    """Lazy evaluation of one run: each plugin is computed (or loaded) at most once."""

    def __init__(
        self,
        engine: Engine,
        order: list[Plugin],
        validated: dict[str, dict[str, Any]],
        keys: dict[str, str],
        source: str,
        load: Callable[[], Transcript],
    ) -> None:
        self.engine = engine
        self.plugins = {plugin.id: plugin for plugin in order}
        self.validated = validated
        self.keys = keys
        self.source = source
        self.load = load
        self.providers = providers(engine.registry)
        self.memo: dict[str, dict[str, Any]] = {}
        self.transcript: Transcript | None = None
        self.steps: list[StepRecord] = []

    def values_of(self, plugin_id: str) -> dict[str, Any]:
        if plugin_id in self.memo:
            return self.memo[plugin_id]
        plugin = self.plugins[plugin_id]
        cache = self.engine.cache
        started = time.perf_counter()
        values = cache.get(self.keys[plugin_id]) if cache else None
        hit = cache is not None and not is_missing(values)
        if not hit:
            inputs = {key: self._input(key) for key in plugin.requires}
            started = time.perf_counter()
            values = _execute(plugin, inputs, self.validated[plugin_id], self.source)
            if cache:
                cache.put(self.keys[plugin_id], values)
        seconds = time.perf_counter() - started
        self.steps.append(StepRecord(plugin_id, plugin.version, self.validated[plugin_id], hit, seconds))
        self.memo[plugin_id] = values
        return values

    def _input(self, key: str) -> Any:
        if key == TRANSCRIPT_KEY:
            if self.transcript is None:
                self.transcript = self.load()
            return self.transcript
        return self.values_of(self.providers[key])[key]


def _execute(plugin: Plugin, inputs: Mapping[str, Any], params: dict[str, Any], source: str) -> dict[str, Any]:
    try:
        returned = plugin.run(inputs, params)
    except QualiaError:
        raise
    except Exception as exc:
        raise PluginExecutionError(f"plugin {plugin.id!r} failed on {source}: {type(exc).__name__}: {exc}") from exc
    if not isinstance(returned, Mapping):
        raise PluginExecutionError(f"plugin {plugin.id!r} returned {type(returned).__name__}, not a mapping")
    missing = [key for key in plugin.provides if key not in returned]
    if missing:
        raise PluginExecutionError(f"plugin {plugin.id!r} did not return {', '.join(missing)}")
    return {key: returned[key] for key in plugin.provides}
