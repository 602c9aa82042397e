"""``/corpus/{table}``, ``/search``, ``/trends`` and ``/export/qdpx``: the corpus as the last refresh left it.

Table pages are read from the Parquet file the refresh materialized (only the row groups a page covers), and
searches from the full-text index it keeps; a word's trend (a scan of the store's word counts) and a REFI-QDA
export run in an engine process. Nothing is computed from transcripts in the server process.
"""

import json
import tempfile
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pyarrow.parquet as pq
from fastapi import APIRouter, HTTPException, Query, Response
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel, Field

from qualia_pipelines import __version__
from qualia_pipelines.api.engines import Engines
from qualia_pipelines.core.contract import QualiaError
from qualia_pipelines.core.corpus_tables import TABLE_ASSETS, CorpusTable, SearchOrder
from qualia_pipelines.core.engine import Engine
from qualia_pipelines.core.search import MAX_PAGE, MAX_QUERY_CHARS, SearchFilters, SearchIndex
from qualia_pipelines.core.storage import to_jsonable
from qualia_pipelines.orchestration.corpus_assets import STORE_ASSET, search_file

if TYPE_CHECKING:
    from qualia_pipelines.core.corpus import CorpusStore

MAX_ROWS = 1000
MAX_EXPORT = 200
"""Transcripts in one ``GET /export/qdpx`` (about 100 KB of project each): more is `qualia export-qda`'s job."""


class SearchMatch(BaseModel):
    transcript: str
    file: str = Field(..., description="The transcript's original file name.")
    speaker: str | None
    start: float | None = Field(..., description="Seconds into the meeting, where the format has times.")
    date: str | None = Field(..., description="The meeting's date (from the document, else the file's).")
    language: str | None
    text: str = Field(..., description="The whole utterance.")
    context: str = Field(..., description="Keyword in context: the words around each match, matches in [brackets].")
    score: float | None = Field(..., description="BM25 relevance, higher is better (null when newest first).")


class SearchPage(BaseModel):
    matches: list[SearchMatch]
    order: SearchOrder = Field(
        ..., description="relevance: best first; newest: too many matches to rank in time (pass it back for more)."
    )
    next_offset: int | None = Field(None, description="Pass as `offset` for more matches; null when none are left.")


class CorpusPage(BaseModel):
    table: str
    total: int = Field(..., description="Rows in the table (with the transcript filter: rows of that transcript).")
    rows: list[dict[str, Any]]
    next_offset: int | None = Field(None, description="Pass as `offset` for the next page; null after the last.")


def refreshed_store(outputs: Path, consequence: str) -> "CorpusStore":
    """The corpus store in ``outputs``; an error that says ``consequence`` before the first corpus refresh."""
    from qualia_pipelines.core.corpus import CorpusStore

    store = CorpusStore(outputs / STORE_ASSET)
    if not store.built:
        raise QualiaError(f"no corpus store yet (no corpus refresh has run): {consequence}")
    return store


class WordTrend(BaseModel):
    word: str = Field(..., description="The word as the counts hold it (lower case, quotes folded).")
    weeks: list[dict[str, Any]] = Field(
        ..., description="Every week with dated meetings (its Monday, UTC): count, meetings using it, per 1,000 words."
    )
    meetings: list[dict[str, Any]] = Field(..., description="Meetings that said it, newest first: a page of them.")
    next_offset: int | None = Field(None, description="Pass as `offset` for more meetings; null when none are left.")


@dataclass(frozen=True)
class TrendQuery:
    """One word's trend as an engine process reads it from the store."""

    outputs: Path
    word: str
    limit: int
    offset: int

    def __call__(self, engine: Engine) -> WordTrend:
        from qualia_pipelines.core.corpus import counted_form

        store = refreshed_store(self.outputs, "no trends")
        word = counted_form(self.word)
        weeks, meetings = store.word_trend(word)
        page = meetings.iloc[self.offset : self.offset + self.limit]
        more = self.offset + self.limit < len(meetings)
        return WordTrend(
            word=word,
            weeks=to_jsonable(weeks.to_dict("records")),
            meetings=to_jsonable(page.to_dict("records")),
            next_offset=self.offset + self.limit if more else None,
        )


@dataclass(frozen=True)
class QdaExport:
    """A REFI-QDA export as an engine process writes it: the .qdpx's bytes."""

    outputs: Path
    transcripts: tuple[str, ...]
    since: str | None
    name: str

    def __call__(self, engine: Engine) -> bytes:
        from qualia_pipelines.core.qda import export_keys, export_transcripts, write_project

        store = refreshed_store(self.outputs, "nothing to export")
        keys = export_keys(store, self.transcripts, self.since)
        if not keys:
            raise QualiaError(
                "no transcripts to export" + (f" from meetings on or after {self.since}" if self.since else "")
            )
        if len(keys) > MAX_EXPORT:
            raise QualiaError(
                f"{len(keys):,} transcripts match; one export holds at most {MAX_EXPORT} (narrow it down with "
                "`transcripts` or `since`, or use `qualia export-qda`)"
            )
        with tempfile.TemporaryDirectory() as folder:
            path = Path(folder) / "project.qdpx"
            write_project(export_transcripts(self.outputs, keys), path, self.name, __version__)
            return path.read_bytes()


def corpus_router(outputs: Path, engines: Engines) -> APIRouter:
    router = APIRouter(tags=["corpus"])

    @router.get(
        "/corpus/{table}", summary="A corpus table as the last corpus refresh wrote it, a page of rows at a time"
    )
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

    @router.get("/search", summary="Search every transcript's utterances: keyword-in-context matches, best first")
    async def search(
        q: str = Query(..., min_length=1, max_length=MAX_QUERY_CHARS, description='Words, "phrases", prefix*.'),
        speaker: str | None = Query(None, max_length=300),
        transcript: str | None = Query(None, max_length=300),
        language: str | None = Query(None, max_length=20),
        since: date | None = Query(None, description="Meetings on or after this day."),
        until: date | None = Query(None, description="Meetings on or before this day."),
        limit: int = Query(20, ge=1, le=MAX_PAGE),
        offset: int = Query(0, ge=0, le=100_000),
        order: SearchOrder = Query("relevance", description="relevance (best first) or newest (newest first)."),
    ) -> SearchPage:
        index = SearchIndex(search_file(outputs))
        if not index.path.exists():
            raise HTTPException(404, "no search index yet (no corpus refresh has run)")
        filters = SearchFilters(speaker, transcript, language, since and since.isoformat(), until and until.isoformat())
        result = await run_in_threadpool(index.search, q, filters, limit + 1, offset, order)
        more = len(result.matches) > limit
        return SearchPage(
            matches=result.matches[:limit], order=result.order, next_offset=offset + limit if more else None
        )

    @router.get("/trends", summary="How often one word was said over time: per week, and per meeting that said it")
    async def trends(
        word: str = Query(..., min_length=1, max_length=100, description="One word (case and accents as said)."),
        limit: int = Query(50, ge=1, le=MAX_ROWS, description="Meetings per page."),
        offset: int = Query(0, ge=0, le=2**40),
    ) -> WordTrend:
        return await engines.run(TrendQuery(outputs, word, limit, offset))

    @router.get(
        "/export/qdpx",
        summary="The corpus (or some of it) as a REFI-QDA project for NVivo, ATLAS.ti, MAXQDA or QualCoder",
        response_class=Response,
        responses={200: {"content": {"application/zip": {}}, "description": "The .qdpx file."}},
    )
    async def export_qdpx(
        transcripts: list[str] = Query([], max_length=MAX_EXPORT, description="Only these transcripts (keys)."),
        since: date | None = Query(None, description="Only meetings on or after this day."),
        name: str = Query("Qualia corpus", min_length=1, max_length=200, description="The project's name."),
    ) -> Response:
        call = QdaExport(outputs, tuple(transcripts), since and since.isoformat(), name)
        content = await engines.run(call)
        headers = {"Content-Disposition": 'attachment; filename="qualia.qdpx"'}
        return Response(content, media_type="application/zip", headers=headers)

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
