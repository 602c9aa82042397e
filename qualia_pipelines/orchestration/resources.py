"""Resources: the Qualia engine and settings, and the IO manager that writes outputs/."""

import json
import os
from functools import lru_cache
from pathlib import Path
from typing import Any

import dagster as dg
from pydantic import Field

from qualia_pipelines.core.alerts import SECRET_ENV, Alert, AlertError, deliver, report_to_sentry
from qualia_pipelines.core.breaker import BreakerPolicy
from qualia_pipelines.core.contract import Rendering
from qualia_pipelines.core.engine import Engine
from qualia_pipelines.core.export import export_table, result_tables
from qualia_pipelines.core.figures import RENDERING_EXTENSIONS
from qualia_pipelines.core.registry import Registry, discover
from qualia_pipelines.core.settings import Settings, load_settings
from qualia_pipelines.core.storage import to_jsonable, write_bytes_atomic, write_json_atomic, write_rendering

_DATA_EXTENSIONS = (".json", ".parquet")
TABLES_FOLDER = "tables"


@lru_cache(maxsize=1)
def current_settings() -> Settings:
    """Settings read once when the definitions load (QUALIA_CONFIG, QUALIA_DATA_DIR, QUALIA_INBOX, ...)."""
    return load_settings()


@lru_cache(maxsize=8)
def registry_for(plugin_dirs: tuple[str, ...]) -> Registry:
    """One discovery per process and plugin folder list: assets and engine must agree."""
    return discover(plugin_dirs)


class QualiaResource(dg.ConfigurableResource):
    """Where transcripts arrive, and the engine that analyses them."""

    inbox: str
    max_bytes: int
    work_timeout_s: float = Settings.model_fields["work_timeout_s"].default
    engine_memory_bytes: int = Settings.model_fields["engine_memory_mb"].default * 1024 * 1024
    plugin_dirs: list[str] = Field(default_factory=list)
    batch_size: int = Settings.model_fields["batch_size"].default
    sensor_max_files: int = Settings.model_fields["sensor_max_files"].default
    sensor_tick_budget_s: float = Settings.model_fields["sensor_tick_budget_s"].default
    sensor_settle_wait_s: float = Settings.model_fields["sensor_settle_wait_s"].default
    outputs: str = "data/outputs"
    """The IO manager's base_dir (resources_for gives both the same): where partitions' paths point."""
    backups: str = "data/backups"
    retention_days: float = 30.0
    run_retention_days: float = 90.0
    breaker_failures: int = 5
    breaker_window_s: float = 300.0
    breaker_cooldown_s: float = 300.0

    @property
    def inbox_dir(self) -> Path:
        return Path(self.inbox)

    @property
    def breaker_policy(self) -> BreakerPolicy:
        return BreakerPolicy(self.breaker_failures, self.breaker_window_s, self.breaker_cooldown_s)

    def registry(self) -> Registry:
        return registry_for(tuple(self.plugin_dirs))

    def engine(self) -> Engine:
        return Engine(self.registry(), max_bytes=self.max_bytes)


class AlertsResource(dg.ConfigurableResource):
    """Where alerts go: a signed webhook (``alert_webhook_url``) and, when SENTRY_DSN is set, Sentry."""

    webhook_url: str = ""
    secret: str = Field("", description=f"HMAC key for the webhook, from ${SECRET_ENV} (never shown in the UI).")

    @property
    def destinations(self) -> list[str]:
        return [name for name, on in (("webhook", self.webhook_url), ("sentry", os.environ.get("SENTRY_DSN"))) if on]

    def send(self, alert: Alert) -> None:
        if self.webhook_url:
            if not self.secret:
                raise AlertError(f"{SECRET_ENV} is not set: alerts to {self.webhook_url} must be signed")
            deliver(alert, self.webhook_url, self.secret)
        report_to_sentry(alert)


class QualiaIOManager(dg.ConfigurableIOManager):
    """``<base_dir>/<asset>/<partition>.<ext>``: JSON records, Parquet tables, visuals as files.

    Partitioned assets hand over ``{partition_key: value}`` and get the same back,
    so one run can process one transcript or a whole drop.
    """

    base_dir: str

    def handle_output(self, context: dg.OutputContext, obj: Any) -> None:
        folder = Path(self.base_dir) / context.asset_key.to_user_string()
        if not context.has_asset_partitions:
            path = self._write(folder / "all", obj)
            context.add_output_metadata({"path": dg.MetadataValue.path(str(path.resolve())), **table_metadata(obj)})
            return
        written = {key: obj[key] for key in context.asset_partition_keys if key in obj}
        for key, value in written.items():
            self._write(folder / key, value)
        tables = [path for key, value in written.items() for path in _write_tables(context, folder, key, value)]
        # Each partition's own path is in its metadata (the asset adds it); here what they share.
        metadata = {"folder": dg.MetadataValue.path(str(folder.resolve()))}
        if tables:
            metadata["tables"] = dg.MetadataValue.path(str(tables[0].parent.resolve()))
        context.add_output_metadata(metadata)

    def load_input(self, context: dg.InputContext) -> Any:
        folder = Path(self.base_dir) / context.asset_key.to_user_string()
        if not context.has_asset_partitions:
            return self._read(folder, "all")
        loaded = {}
        for key in context.asset_partition_keys:  # the transcripts that have an output (failed or skipped: none)
            try:
                loaded[key] = self._read(folder, key)
            except FileNotFoundError:
                context.log.warning(f"{context.asset_key.to_user_string()}: no output for {key}, left out")
        return loaded

    @staticmethod
    def _write(stem: Path, value: Any) -> Path:
        path = output_file(stem.parent, stem.name, value)
        if path.suffix == ".parquet":
            import io

            buffer = io.BytesIO()
            value.to_parquet(buffer, index=False)
            return write_bytes_atomic(path, buffer.getvalue())
        if path.suffix == ".json":
            return write_json_atomic(path, to_jsonable(value))
        return write_rendering(path, next(iter(value.values())))

    @staticmethod
    def _read(folder: Path, stem: str) -> Any:
        path = stored_output(folder, stem)
        if path is None:
            raise FileNotFoundError(f"no stored output for {folder.name}/{stem}")
        if path.suffix == ".json":
            return json.loads(path.read_text(encoding="utf-8"))
        if path.suffix == ".parquet":
            import pandas as pd

            return pd.read_parquet(path)
        return path


def _write_tables(context: dg.OutputContext, folder: Path, key: str, value: Any) -> list[Path]:
    """A record's tables (word counts, segments, per-utterance scores) as Parquet beside its JSON.

    The JSON record stays the source of truth; a table pyarrow cannot type is
    left out with a warning rather than failing the asset.
    """
    if not (isinstance(value, dict) and isinstance(value.get("values"), dict)):
        return []
    from pyarrow import ArrowException  # imported here: sensors and the webserver load this module too

    paths = []
    for name, rows in result_tables(value).items():
        try:
            paths.append(export_table(rows, folder / TABLES_FOLDER / f"{key}.{name}.parquet", "parquet"))
        except (ValueError, TypeError, ArrowException) as exc:
            context.log.warning(f"{context.asset_key.to_user_string()}/{key}: table {name!r} not written: {exc}")
    return paths


def table_metadata(value: Any) -> dict[str, Any]:
    """Dagster's standard column schema and row count, for a table output (the UI shows both)."""
    if not _is_frame(value):
        return {}
    columns = [dg.TableColumn(str(name), str(dtype)) for name, dtype in value.dtypes.items()]
    return {"dagster/column_schema": dg.TableSchema(columns=columns), "dagster/row_count": len(value)}


def _is_frame(value: Any) -> bool:
    return type(value).__name__ == "DataFrame" and hasattr(value, "to_parquet")


def output_file(folder: Path, stem: str, value: Any) -> Path:
    """Where ``value`` is stored for ``stem``: a visualizer's rendering as its own format, a table as Parquet,
    anything else as a JSON record."""
    if isinstance(value, dict) and len(value) == 1 and isinstance(next(iter(value.values())), Rendering):
        return folder / f"{stem}.{next(iter(value.values())).extension}"
    return folder / f"{stem}.parquet" if _is_frame(value) else folder / f"{stem}.json"


def stored_output(folder: Path, stem: str) -> Path | None:
    """The file an asset stored for ``stem``: its JSON record or Parquet table, else its rendering (the newest,
    should an earlier run have drawn another format).

    Found by name, so reading one partition costs the same whatever the folder holds (a glob listed the
    whole folder for every key: reading N records was quadratic). Only a rendering of a format Qualia does
    not draw itself (a plugin's own) is looked for by listing.
    """
    for extension in _DATA_EXTENSIONS:
        if (path := folder / f"{stem}{extension}").is_file():
            return path
    drawn = [path for extension in RENDERING_EXTENSIONS if (path := folder / f"{stem}.{extension}").is_file()]
    if not drawn:
        escaped = "".join(f"[{ch}]" if ch in "[]*?" else ch for ch in stem)
        drawn = [path for path in folder.glob(f"{escaped}.*") if path.is_file() and path.suffix not in _DATA_EXTENSIONS]
    return max(drawn, key=lambda path: path.stat().st_mtime_ns, default=None)


def resources_for(settings: Settings) -> dict[str, Any]:
    return {
        "qualia": QualiaResource(
            inbox=str(settings.inbox_dir),
            max_bytes=settings.max_bytes,
            work_timeout_s=settings.work_timeout_s,
            engine_memory_bytes=settings.engine_memory_bytes,
            plugin_dirs=[str(d) for d in settings.plugin_dirs],
            batch_size=settings.batch_size,
            sensor_max_files=settings.sensor_max_files,
            sensor_tick_budget_s=settings.sensor_tick_budget_s,
            sensor_settle_wait_s=settings.sensor_settle_wait_s,
            outputs=str(settings.outputs_dir),
            backups=str(settings.backups_dir),
            retention_days=settings.backup_retention_days,
            run_retention_days=settings.run_retention_days,
            breaker_failures=settings.breaker_failures,
            breaker_window_s=settings.breaker_window_s,
            breaker_cooldown_s=settings.breaker_cooldown_s,
        ),
        "io_manager": QualiaIOManager(base_dir=str(settings.outputs_dir)),
        "alerts": AlertsResource(
            webhook_url=settings.alert_webhook_url or "",
            secret=dg.EnvVar(SECRET_ENV) if os.environ.get(SECRET_ENV) else "",
        ),
    }
