"""Saved results to tables: CSV, Parquet or JSON records (pandas/pyarrow)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from numbers import Real
from pathlib import Path
from typing import Any

from qualia_pipelines.core.contract import QualiaError
from qualia_pipelines.core.storage import write_bytes_atomic, write_json_atomic


def load_result(path: Path) -> dict[str, Any]:
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise QualiaError(f"{path}: file not found") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise QualiaError(f"{path}: not a JSON result ({exc})") from None
    if not isinstance(record, dict) or not isinstance(record.get("values"), dict):
        raise QualiaError(f"{path}: not a Qualia result (no 'values' object)")
    return record


def result_tables(record: Mapping[str, Any]) -> dict[str, list[dict[str, Any]]]:
    """Every tabular part of a result, nested one level: record lists first, then key -> number mappings."""
    records: dict[str, list[dict[str, Any]]] = {}
    mappings: dict[str, list[dict[str, Any]]] = {}

    def collect(name: str, value: Any) -> None:
        if isinstance(value, list) and value and all(isinstance(row, dict) for row in value):
            records[name] = value
        elif isinstance(value, dict) and value and all(isinstance(v, Real) for v in value.values()):
            mappings[name] = [{"key": key, "value": number} for key, number in value.items()]

    for name, value in record["values"].items():
        collect(name, value)
        if isinstance(value, dict):
            for inner, item in value.items():
                collect(f"{name}.{inner}", item)
    return {**records, **mappings}


def export_table(rows: list[dict[str, Any]], destination: Path, fmt: str) -> Path:
    if fmt == "json":
        return write_json_atomic(destination, rows)
    if fmt == "csv":
        import pandas as pd

        return write_bytes_atomic(destination, pd.DataFrame(rows).to_csv(index=False).encode("utf-8"))
    return write_bytes_atomic(destination, parquet_bytes(rows))


def parquet_bytes(rows: list[dict[str, Any]]) -> bytes:
    """Rows as a Parquet file, columns in order of first appearance (a key missing from a row is null).

    Built with pyarrow directly: five times faster than through a DataFrame, which
    matters when every transcript of a drop writes a handful of small tables.
    """
    import io

    import pyarrow as pa
    import pyarrow.parquet as pq

    columns = list(dict.fromkeys(key for row in rows for key in row))
    buffer = io.BytesIO()
    pq.write_table(pa.table({column: [row.get(column) for row in rows] for column in columns}), buffer)
    return buffer.getvalue()
