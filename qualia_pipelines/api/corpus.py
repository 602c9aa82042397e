"""``/corpus/{table}``: the corpus tables as the last corpus refresh wrote them, a page of rows at a time.

Pages are read from the Parquet file the refresh materialized (only the row groups a page covers), never
computed in the server process: the tables come from the corpus store through Dagster.
"""

import json
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
from fastapi import APIRouter, HTTPException, Query
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel, Field

from qualia_pipelines.core.contract import QualiaError
from qualia_pipelines.core.corpus_tables import TABLE_ASSETS, CorpusTable

MAX_ROWS = 1000


class CorpusPage(BaseModel):
    table: str
    total: int = Field(..., description="Rows in the table (with the transcript filter: rows of that transcript).")
    rows: list[dict[str, Any]]
    next_offset: int | None = Field(None, description="Pass as `offset` for the next page; null after the last.")


def corpus_router(outputs: Path) -> APIRouter:
    router = APIRouter(prefix="/corpus", tags=["corpus"])

    @router.get("/{table}", summary="A corpus table as the last corpus refresh wrote it, a page of rows at a time")
    async def table_page(
        table: CorpusTable,
        limit: int = Query(100, ge=1, le=MAX_ROWS),
        offset: int = Query(0, ge=0, le=2**40),
        transcript: str | None = Query(None, max_length=300, description="Only this transcript's rows."),
    ) -> CorpusPage:
        path = outputs / TABLE_ASSETS[table] / "all.parquet"
        if not path.is_file():
            raise HTTPException(404, f"corpus table {table}: not materialized yet (no corpus refresh has run)")
        return await run_in_threadpool(page_of, path, table, limit, offset, transcript)

    return router


def page_of(path: Path, table: str, limit: int, offset: int, transcript: str | None) -> CorpusPage:
    """Rows ``offset`` to ``offset + limit`` of the table at ``path``: only the row groups that hold them."""
    if transcript is not None:
        if table in ("vocabulary", "participation"):
            raise QualiaError(f"transcript: the {table} table has no transcript column")
        rows = pq.read_table(path, filters=[("transcript", "==", transcript)])
        total, window = rows.num_rows, rows.slice(offset, limit)
    else:
        parquet = pq.ParquetFile(path)
        total = parquet.metadata.num_rows
        groups, first, start = [], 0, None
        for index in range(parquet.num_row_groups):
            size = parquet.metadata.row_group(index).num_rows
            if first + size > offset and first < offset + limit:
                groups.append(index)
                start = first if start is None else start
            first += size
        window = parquet.read_row_groups(groups).slice(offset - (start or 0), limit) if groups else None
    records = json.loads(window.to_pandas().to_json(orient="records", date_format="iso")) if window else []
    end = offset + len(records)
    return CorpusPage(table=table, total=total, rows=records, next_offset=end if end < total else None)
