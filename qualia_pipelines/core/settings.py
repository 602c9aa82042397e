"""Project settings: a YAML file (``qualia.yaml``) overlaid by ``QUALIA_*`` variables.

The same settings serve the CLI, the API and the Dagster definitions, so a lab
server and a laptop differ only in their configuration.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from qualia_pipelines.core.cache import default_cache_dir
from qualia_pipelines.core.contract import QualiaError

CONFIG_ENV = "QUALIA_CONFIG"
DEFAULT_CONFIG_NAME = "qualia.yaml"
_ENV_FIELDS = {
    "QUALIA_DATA_DIR": "data_dir",
    "QUALIA_INBOX": "inbox",
    "QUALIA_OUTPUTS": "outputs",
    "QUALIA_BACKUPS": "backups",
    "QUALIA_PROCESSING_CRON": "processing_cron",
    "QUALIA_BATCH_SIZE": "batch_size",
    "QUALIA_SENSOR_MAX_FILES": "sensor_max_files",
    "QUALIA_SENSOR_TICK_BUDGET_S": "sensor_tick_budget_s",
    "QUALIA_SENSOR_SETTLE_WAIT_S": "sensor_settle_wait_s",
    "QUALIA_CACHE_DIR": "cache_dir",
    "QUALIA_MAX_FILE_MB": "max_file_mb",
    "QUALIA_WORK_TIMEOUT_S": "work_timeout_s",
    "QUALIA_ENGINE_MEMORY_MB": "engine_memory_mb",
    "QUALIA_BREAKER_FAILURES": "breaker_failures",
    "QUALIA_BREAKER_WINDOW_S": "breaker_window_s",
    "QUALIA_BREAKER_COOLDOWN_S": "breaker_cooldown_s",
    "DAGSTER_HOME": "dagster_home",
    "QUALIA_API_KEYS": "api_keys",
    "QUALIA_RATE_LIMIT_PER_MINUTE": "rate_limit_per_minute",
    "QUALIA_CORS_ORIGINS": "cors_origins",
    "QUALIA_TRUSTED_PROXIES": "trusted_proxies",
    "QUALIA_ALERT_WEBHOOK_URL": "alert_webhook_url",
    "QUALIA_RUN_RETENTION_DAYS": "run_retention_days",
}


class ConfigError(QualiaError):
    """The configuration file is missing, not YAML, or has invalid fields."""


OWNER_TEAM = re.compile(r"team:.+")
OWNER_EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")


class Settings(BaseModel):
    """Where data lives and how plugins run by default."""

    model_config = ConfigDict(extra="forbid")

    data_dir: Path = Field(Path("data"), description="Root of inbox, outputs and backups.")
    inbox: Path | None = Field(None, description="Folder watched for transcripts (default: <data_dir>/inbox).")
    outputs: Path | None = Field(None, description="Folder for results (default: <data_dir>/outputs).")
    cache_dir: Path | None = Field(None, description="Result cache (default: ~/.cache/qualia).")
    cache: bool = Field(True, description="Reuse results of unchanged inputs.")
    max_file_mb: float = Field(50.0, gt=0, description="Largest transcript accepted, in MB.")
    work_timeout_s: float = Field(
        120.0,
        gt=0,
        description="Longest an API request's analysis, or the inbox sensor's check of a new file, may take; "
        "over it the work is stopped (the API answers 503, the sensor marks the file failed).",
    )
    engine_memory_mb: int = Field(
        4096,
        ge=0,
        description="Memory cap of each API engine process and of the sensor's file checker (0: none); an "
        "input that needs more is refused and costs one process, not the machine.",
    )
    workers: int = Field(2, ge=1, le=64, description="Worker processes for batch runs.")
    plugin_dirs: list[Path] = Field(default_factory=list, description="Extra folders scanned for plugins.")
    parameters: dict[str, dict[str, Any]] = Field(default_factory=dict, description="Default parameters per plugin id.")
    backups: Path | None = Field(None, description="Folder for backup archives (default: <data_dir>/backups).")
    backup_retention_days: float = Field(30.0, gt=0, description="Backups older than this are pruned.")
    processing_cron: str = Field("0 * * * *", description="When the processing schedule runs (cron).")
    batch_size: int = Field(50, ge=1, le=1000, description="Transcripts of one drop processed per Dagster run.")
    sensor_max_files: int = Field(
        500,
        ge=1,
        description="New files the inbox sensor takes per tick at most; the rest wait for the next tick.",
    )
    sensor_tick_budget_s: float = Field(
        2.0,
        gt=0,
        description="Seconds of an inbox sensor tick's own work (listing the inbox, then hashing and checking new "
        "files, oldest first; at least half of it for reading) after which the rest wait for the next tick, so a "
        "drop of thousands of files never makes one slow tick.",
    )
    sensor_settle_wait_s: float = Field(
        5.0,
        ge=0,
        le=30,
        description="Seconds an inbox sensor tick waits for files written just now to go 5 s without a write, "
        "then takes those unchanged, rather than leaving them for the next tick (0: leave them).",
    )
    breaker_failures: int = Field(5, ge=1, description="Failures within the window that open a plugin's breaker.")
    breaker_window_s: float = Field(300.0, gt=0, description="Window in which failures are counted, seconds.")
    breaker_cooldown_s: float = Field(300.0, ge=0, description="How long an open breaker skips its plugin, seconds.")
    dagster_home: Path | None = Field(None, description="Dagster instance folder (default: <data_dir>/dagster_home).")
    api_keys: list[str] = Field(
        default_factory=list,
        description="Keys accepted in the API's X-API-Key header (comma-separated in QUALIA_API_KEYS). "
        "Empty: no key needed on loopback; `qualia serve` refuses other addresses without keys.",
    )
    rate_limit_per_minute: int = Field(
        600, ge=0, description="API requests per minute per key (or per client address); 0 turns the limit off."
    )
    cors_origins: list[str] = Field(
        default_factory=list,
        description="Origins allowed to call the API from browsers (others' cross-site POSTs are refused).",
    )
    trusted_proxies: list[str] = Field(
        default_factory=list,
        description="Addresses of reverse proxies whose X-Forwarded-For/-Proto the API believes (comma-separated "
        "in QUALIA_TRUSTED_PROXIES). Empty: none, so no client can claim another's address.",
    )
    api_result_cache: bool = Field(
        False,
        description="Let the API reuse cached results of texts it has seen (the cache grows with every distinct "
        "text: off by default for a public API).",
    )

    alert_webhook_url: str | None = Field(
        None,
        pattern=r"^https?://",
        description="Where failed runs and circuit-breaker changes are POSTed as JSON, HMAC-signed with "
        "QUALIA_ALERT_SECRET (kept out of files on purpose). SENTRY_DSN, when set, gets them too.",
    )
    run_retention_days: float = Field(
        90.0, gt=0, description="Finished runs older than this are pruned from the instance (outputs are kept)."
    )
    asset_owners: list[str] = Field(
        default_factory=list,
        description="Owners shown on every Dagster asset: e-mail addresses or `team:<name>` (comma-separated in "
        "QUALIA_ASSET_OWNERS).",
    )
    asset_tags: dict[str, str] = Field(
        default_factory=dict, description="Tags added to every Dagster asset, e.g. {project: interviews}."
    )

    @field_validator("asset_owners")
    @classmethod
    def _owners_dagster_accepts(cls, owners: list[str]) -> list[str]:
        """Dagster refuses other owners when it loads the code location: say so here, naming the owner."""
        for owner in owners:
            if not (OWNER_TEAM.fullmatch(owner) or OWNER_EMAIL.fullmatch(owner)):
                raise ValueError(f"owner {owner!r} is neither an e-mail address nor team:<name>")
        return owners

    @field_validator("api_keys", "cors_origins", "trusted_proxies", "asset_owners", mode="before")
    @classmethod
    def _comma_separated(cls, value: Any) -> Any:
        """Lists arrive from environment variables as ``a,b,c``."""
        return [item.strip() for item in value.split(",") if item.strip()] if isinstance(value, str) else value

    @property
    def inbox_dir(self) -> Path:
        return self.inbox or self.data_dir / "inbox"

    @property
    def outputs_dir(self) -> Path:
        return self.outputs or self.data_dir / "outputs"

    @property
    def backups_dir(self) -> Path:
        return self.backups or self.data_dir / "backups"

    @property
    def instance_dir(self) -> Path:
        return self.dagster_home or self.data_dir / "dagster_home"

    @property
    def cache_path(self) -> Path:
        return self.cache_dir or default_cache_dir()

    @property
    def max_bytes(self) -> int:
        return int(self.max_file_mb * 1024 * 1024)

    @property
    def engine_memory_bytes(self) -> int:
        return self.engine_memory_mb * 1024 * 1024


def config_path(explicit: str | os.PathLike[str] | None = None) -> Path | None:
    """The config file in use: the explicit one, $QUALIA_CONFIG, or ./qualia.yaml if present."""
    if explicit:
        return Path(explicit)
    if os.environ.get(CONFIG_ENV):
        return Path(os.environ[CONFIG_ENV])
    local = Path(DEFAULT_CONFIG_NAME)
    return local if local.is_file() else None


def load_settings(explicit: str | os.PathLike[str] | None = None) -> Settings:
    path = config_path(explicit)
    data = read_config_file(path) if path else {}
    if path:
        data = _relative_to(data, path.parent)
    for variable, name in _ENV_FIELDS.items():
        if os.environ.get(variable):
            data[name] = os.environ[variable]
    try:
        return Settings.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(f"{path or 'environment'}: {_first_error(exc)}") from None


def read_config_file(path: Path) -> dict[str, Any]:
    import yaml

    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"{path}: configuration file not found") from None
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: not valid YAML ({exc})") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: the configuration must be a mapping of settings")
    return data


def _relative_to(data: dict[str, Any], base: Path) -> dict[str, Any]:
    """Relative paths in a config file are relative to that file, not to the shell."""
    resolved = dict(data)
    for name in ("data_dir", "inbox", "outputs", "cache_dir", "backups", "dagster_home"):
        if isinstance(resolved.get(name), str) and not Path(resolved[name]).is_absolute():
            resolved[name] = str(base / resolved[name])
    if isinstance(resolved.get("plugin_dirs"), list):
        resolved["plugin_dirs"] = [
            str(base / d) if isinstance(d, str) and not Path(d).is_absolute() else d for d in resolved["plugin_dirs"]
        ]
    return resolved


def _first_error(exc: ValidationError) -> str:
    error = exc.errors()[0]
    field = ".".join(str(part) for part in error["loc"]) or "settings"
    return f"field {field!r}: {error['msg']} (got {error.get('input')!r})"


def default_config_yaml() -> str:
    """A commented starting configuration (`qualia config new`, `qualia init`)."""
    return """\
# Qualia Pipelines configuration. Relative paths are relative to this file.
data_dir: data            # inbox/, outputs/ and backups/ live here
# inbox: data/inbox       # where transcripts are dropped
# outputs: data/outputs   # where results are written
cache: true               # reuse results of unchanged transcripts
max_file_mb: 50           # larger transcripts are rejected
workers: 2                # processes for `qualia batch`
plugin_dirs: [plugins]    # your own plugins (see `qualia create`)
# asset_owners: [team:research]       # owners of every Dagster asset (e-mails or team:<name>)
# asset_tags: {project: interviews}   # tags on every Dagster asset
parameters:               # default parameters per plugin
  teams_cleaner:
    min_utterance_words: 2
  word_frequency:
    max_words: 100
  sentiment_analyzer:
    polarity_threshold: 0.1
"""
