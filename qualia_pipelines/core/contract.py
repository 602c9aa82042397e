"""The plugin contract: metadata, typed parameters and the outputs plugins return.

Everything an adapter (CLI, API, Dagster) knows about a plugin comes from the
objects defined here, so they are the single source of truth for parameter
names, types, defaults, ranges, help text and the keys a plugin needs and gives.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

PluginKind = Literal["document", "analyzer", "visualizer"]
ParamType = Literal["int", "float", "bool", "choice", "str"]

PLUGIN_KINDS: tuple[PluginKind, ...] = ("document", "analyzer", "visualizer")
PARAM_TYPES: tuple[ParamType, ...] = ("int", "float", "bool", "choice", "str")
TRANSCRIPT_KEY = "transcript"
"""The root key every document plugin may require: the parsed input file."""

_ID_PATTERN = re.compile(r"^[a-z][a-z0-9_]*$")
_TRUE_WORDS = frozenset({"true", "yes", "on", "1"})
_FALSE_WORDS = frozenset({"false", "no", "off", "0"})


class QualiaError(Exception):
    """Base class for every error Qualia reports to a user as one clear line."""


class PluginDefinitionError(QualiaError):
    """A plugin's metadata breaks the contract (reported at discovery, then skipped)."""


class ParameterError(QualiaError):
    """A parameter is unknown, of the wrong type or outside what is allowed."""


class PluginInputError(QualiaError):
    """A plugin was handed data of the wrong shape."""


class NothingToDrawError(QualiaError):
    """A visualizer's input is well formed but holds nothing to draw (no words left, no sentiment for the
    language): the visual is skipped, and the transcript it belongs to is not a failure."""


@dataclass(frozen=True)
class Parameter:
    """One typed, validated plugin parameter."""

    name: str
    type: ParamType
    default: Any
    help: str = ""
    minimum: float | None = None
    maximum: float | None = None
    choices: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if not _ID_PATTERN.match(self.name):
            raise PluginDefinitionError(f"parameter name {self.name!r} is not snake_case")
        if self.type not in PARAM_TYPES:
            raise PluginDefinitionError(
                f"parameter {self.name!r} has unknown type {self.type!r} (allowed: {', '.join(PARAM_TYPES)})"
            )
        if self.type == "choice" and not self.choices:
            raise PluginDefinitionError(f"choice parameter {self.name!r} lists no choices")
        try:
            self.validate(self.default)
        except ParameterError as exc:
            raise PluginDefinitionError(f"default of {exc}") from None

    def allowed(self) -> str:
        """Describe the allowed values in words, for error messages and help."""
        if self.type == "choice":
            return "one of " + ", ".join(self.choices)
        if self.type == "bool":
            return "true or false"
        if self.type in ("int", "float"):
            low = "-inf" if self.minimum is None else _number_text(self.minimum)
            high = "inf" if self.maximum is None else _number_text(self.maximum)
            return f"{'an integer' if self.type == 'int' else 'a number'} in [{low}, {high}]"
        return "any text"

    def validate(self, value: Any) -> Any:
        """Return ``value`` converted to this parameter's type, or raise ParameterError.

        Strings are accepted for every type so that ``-P name=value`` on the command
        line, query strings and YAML all go through the same rules.
        """
        converted = self._converted(value)
        too_low = self.minimum is not None and converted < self.minimum
        too_high = self.maximum is not None and converted > self.maximum
        if self.type in ("int", "float") and (too_low or too_high):
            raise self._error(value)
        if self.type == "choice" and converted not in self.choices:
            raise self._error(value)
        return converted

    def json_schema(self) -> dict[str, Any]:
        """JSON Schema for this parameter (used by the API and `qualia inspect`)."""
        schema: dict[str, Any] = {"default": self.default, "description": self.help}
        if self.type == "choice":
            schema.update(type="string", enum=list(self.choices))
        elif self.type == "int":
            schema["type"] = "integer"
        elif self.type == "float":
            schema["type"] = "number"
        elif self.type == "bool":
            schema["type"] = "boolean"
        else:
            schema["type"] = "string"
        if self.minimum is not None:
            schema["minimum"] = self.minimum
        if self.maximum is not None:
            schema["maximum"] = self.maximum
        return schema

    def _converted(self, value: Any) -> Any:
        if self.type == "bool":
            if isinstance(value, bool):
                return value
            if isinstance(value, str) and value.strip().lower() in _TRUE_WORDS | _FALSE_WORDS:
                return value.strip().lower() in _TRUE_WORDS
            raise self._error(value)
        if self.type == "int":
            if isinstance(value, bool):
                raise self._error(value)
            if isinstance(value, int):
                return value
            if isinstance(value, float) and value.is_integer():
                return int(value)
            if isinstance(value, str) and re.fullmatch(r"\s*[+-]?\d+\s*", value):
                return int(value)
            raise self._error(value)
        if self.type == "float":
            if isinstance(value, bool):
                raise self._error(value)
            try:
                number = float(value)
            except (TypeError, ValueError):
                raise self._error(value) from None
            if not math.isfinite(number):
                raise self._error(value)
            return number
        if not isinstance(value, str):
            raise self._error(value)
        return value

    def _error(self, value: Any) -> ParameterError:
        return ParameterError(f"parameter {self.name!r}: {value!r} is not allowed; expected {self.allowed()}")


def _number_text(number: float) -> str:
    return str(int(number)) if float(number).is_integer() else str(number)


@dataclass(frozen=True)
class RetryHints:
    """How an orchestrator should retry a plugin that fails transiently."""

    max_retries: int = 0
    backoff_seconds: float = 1.0
    jitter: bool = True


@dataclass(frozen=True)
class Rendering:
    """What a visualizer returns: bytes plus what a writer needs to store them.

    ``companions`` are files the content refers to by relative name (for example
    one shared ``plotly.min.js``); the writer places them next to the output.
    """

    content: bytes
    media_type: str
    extension: str
    companions: Mapping[str, Path] = field(default_factory=dict)

    def text(self) -> str:
        return self.content.decode("utf-8")


PluginRun = Callable[[Mapping[str, Any], Mapping[str, Any]], Mapping[str, Any]]


@dataclass(frozen=True)
class Plugin:
    """A registered analysis: metadata plus a pure ``run(inputs, params)`` function.

    ``run`` receives the values of the keys in ``requires`` and the validated
    parameters, and returns a mapping with exactly the keys in ``provides``.
    """

    id: str
    kind: PluginKind
    version: str
    description: str
    requires: tuple[str, ...]
    provides: tuple[str, ...]
    run: PluginRun
    parameters: tuple[Parameter, ...] = ()
    retry: RetryHints = RetryHints()
    source: str = ""

    def __post_init__(self) -> None:
        if not isinstance(self.id, str) or not _ID_PATTERN.match(self.id):
            raise PluginDefinitionError(f"plugin id {self.id!r} is not snake_case")
        if self.kind not in PLUGIN_KINDS:
            raise PluginDefinitionError(
                f"plugin {self.id!r}: kind {self.kind!r} is not one of {', '.join(PLUGIN_KINDS)}"
            )
        if not isinstance(self.version, str) or not self.version.strip():
            raise PluginDefinitionError(f"plugin {self.id!r}: version must be a non-empty string")
        if not callable(self.run):
            raise PluginDefinitionError(f"plugin {self.id!r}: run is not callable")
        if not self.provides:
            raise PluginDefinitionError(f"plugin {self.id!r} provides nothing")
        for key in (*self.requires, *self.provides):
            if not isinstance(key, str) or not _ID_PATTERN.match(key):
                raise PluginDefinitionError(f"plugin {self.id!r}: key {key!r} is not snake_case")
        if TRANSCRIPT_KEY in self.provides:
            raise PluginDefinitionError(f"plugin {self.id!r} may not provide {TRANSCRIPT_KEY!r}")
        names = [p.name for p in self.parameters]
        if len(names) != len(set(names)):
            raise PluginDefinitionError(f"plugin {self.id!r} declares a parameter twice")

    @property
    def defaults(self) -> dict[str, Any]:
        return {p.name: p.default for p in self.parameters}

    def parameter(self, name: str) -> Parameter:
        for candidate in self.parameters:
            if candidate.name == name:
                return candidate
        known = ", ".join(p.name for p in self.parameters) or "none"
        raise ParameterError(f"plugin {self.id!r} has no parameter {name!r} (known: {known})")

    def validated(self, params: Mapping[str, Any] | None) -> dict[str, Any]:
        """Defaults overlaid with ``params``, each checked; unknown names are errors."""
        values = self.defaults
        for name, value in (params or {}).items():
            try:
                values[name] = self.parameter(name).validate(value)
            except ParameterError as exc:
                raise ParameterError(f"plugin {self.id!r}: {exc}") from None
        return values

    def json_schema(self) -> dict[str, Any]:
        """JSON Schema of the parameters object (for the API and `inspect`)."""
        return {
            "type": "object",
            "additionalProperties": False,
            "properties": {p.name: p.json_schema() for p in self.parameters},
        }
