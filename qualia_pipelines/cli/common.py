"""What every CLI command shares: error reporting, settings, engine, -P parsing, output."""

from __future__ import annotations

import functools
import json
import sys
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import typer
from rich.console import Console

from qualia_pipelines.core.contract import ParameterError, QualiaError
from qualia_pipelines.core.storage import to_jsonable

if TYPE_CHECKING:
    from qualia_pipelines.core.corpus import CorpusStore

console = Console(stderr=True)
"""Progress, notes and errors: stderr, so stdout carries only results (tables, JSON)."""
stdout = Console()
F = TypeVar("F", bound=Callable[..., Any])


def reports_errors(command: F) -> F:
    """Turn any QualiaError into one clear line on stderr and exit status 1."""

    @functools.wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return command(*args, **kwargs)
        except QualiaError as exc:
            fail(str(exc))
        except KeyboardInterrupt:
            fail("interrupted")

    return wrapper  # type: ignore[return-value]


def fail(message: str, code: int = 1) -> None:
    print(f"error: {message}", file=sys.stderr)
    raise typer.Exit(code)


def settings(config: Path | None = None) -> Any:
    from qualia_pipelines.core.settings import load_settings

    return load_settings(config)


def corpus_store(config: Path | None) -> tuple[Path, CorpusStore]:
    """The outputs folder and the corpus store the pipeline keeps in it (an error before the first refresh)."""
    from qualia_pipelines.core.corpus import CorpusStore
    from qualia_pipelines.orchestration.corpus_assets import STORE_ASSET

    outputs = settings(config).outputs_dir
    store = CorpusStore(outputs / STORE_ASSET)
    if not store.built:
        fail(f"no corpus store at {store.root}: run `qualia run` (or let the pipeline refresh the corpus) first")
    return outputs, store


def engine_for(config: Any, use_cache: bool = True) -> Any:
    """``Engine.from_settings``, imported only when a command needs it (keeps `qualia --help` quick)."""
    from qualia_pipelines.core.engine import Engine

    return Engine.from_settings(config, use_cache=use_cache)


def parameters_from_options(target: str, options: Iterable[str]) -> dict[str, dict[str, str]]:
    """``-P name=value`` for the target plugin, ``-P plugin.name=value`` for any plugin in the chain."""
    params: dict[str, dict[str, str]] = {}
    for option in options:
        name, equals, value = option.partition("=")
        if not equals or not name.strip():
            raise ParameterError(f"-P {option!r}: expected name=value (or plugin.name=value)")
        plugin_id, dot, parameter = name.strip().rpartition(".")
        params.setdefault(plugin_id if dot else target, {})[parameter] = value
    return params


def print_json(data: Any) -> None:
    sys.stdout.write(json.dumps(to_jsonable(data), ensure_ascii=False, indent=2) + "\n")


SettingsOption = typer.Option(None, "--settings", help="Settings file (default: $QUALIA_CONFIG or ./qualia.yaml).")
ParamOption = typer.Option([], "--param", "-P", help="Parameter as name=value, or plugin.name=value for a dependency.")
