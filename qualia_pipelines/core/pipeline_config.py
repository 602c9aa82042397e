"""Pipeline files: ordered steps, each a plugin with parameters, validated before running.

```yaml
steps:
  - plugin: teams_cleaner
    parameters: {min_utterance_words: 3}
  - plugin: word_frequency
    parameters: {max_words: 50}
  - plugin: wordcloud_viz
    parameters: {format: html}
```
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from qualia_pipelines.core.engine import Engine
from qualia_pipelines.core.settings import ConfigError, read_config_file


@dataclass(frozen=True)
class Step:
    plugin: str
    parameters: dict[str, Any]


def load_pipeline(path: Path, engine: Engine) -> list[Step]:
    data = read_config_file(path)
    raw_steps = data.get("steps")
    if not isinstance(raw_steps, list) or not raw_steps:
        raise ConfigError(f"{path}: a pipeline needs a non-empty 'steps' list")
    unknown = set(data) - {"steps", "name", "description"}
    if unknown:
        raise ConfigError(f"{path}: unknown field(s) {', '.join(sorted(unknown))} (allowed: name, description, steps)")
    return checked_steps(str(path), [_step(path, index, raw) for index, raw in enumerate(raw_steps, start=1)], engine)


def checked_steps(where: str, steps: list[Step], engine: Engine) -> list[Step]:
    """``steps`` once each plugin appears only once and every parameter is valid (pipeline files and the API)."""
    seen = [step.plugin for step in steps]
    if len(seen) != len(set(seen)):
        raise ConfigError(f"{where}: a plugin appears twice in steps; give each plugin once")
    engine.validated_parameters(seen, {step.plugin: step.parameters for step in steps})
    return steps


def _step(path: Path, index: int, raw: Any) -> Step:
    if isinstance(raw, str):
        return Step(raw, {})
    if not isinstance(raw, dict) or not isinstance(raw.get("plugin"), str):
        raise ConfigError(f"{path}: step {index} needs a 'plugin' id")
    parameters = raw.get("parameters") or {}
    if not isinstance(parameters, dict):
        raise ConfigError(f"{path}: step {index} ({raw['plugin']}): 'parameters' must be a mapping")
    extra = set(raw) - {"plugin", "parameters"}
    if extra:
        raise ConfigError(f"{path}: step {index}: unknown field(s) {', '.join(sorted(extra))}")
    return Step(raw["plugin"], parameters)
