"""Search across every transcript: a SQLite FTS5 index of the cleaned utterances, kept up to date one drop at a
time, answering with keyword-in-context rows.

Matching is case- and accent-insensitive ("integracao" finds "integração": FTS5's ``unicode61`` tokenizer with
diacritics removed) and takes FTS5's query syntax: words (all must occur), ``"sem problemas"`` phrases,
``integra*`` prefixes, ``OR`` and ``NOT``. Results are ranked by BM25, or newest first where ranking every
match would take too long. Each transcript's utterances hold one
contiguous range of row ids, so replacing or removing a transcript touches only its own rows, whatever the
index holds. The file is SQLite in WAL mode: searches go on while a refresh writes.
"""

from __future__ import annotations

import re
import sqlite3
import threading
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import closing, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from qualia_pipelines.core.contract import QualiaError
from qualia_pipelines.core.corpus_tables import SearchOrder

MAX_QUERY_CHARS = 200
SHORT_PREFIX = re.compile(r"(?<!\w)\w{0,2}\*")
"""A prefix of one or two letters (``a*``) would merge the lists of thousands of words: refused."""
MAX_PAGE = 100
RANKING_SECONDS = 0.2
"""How long a search may spend ranking its matches by relevance before it answers newest first instead."""
RANKED_MATCHES = 150_000
"""Past this many matches a search is answered newest first without trying to rank them: BM25 scores about a
million matches a second on one core, so more than this cannot be ranked within :data:`RANKING_SECONDS`."""
COUNTING_SECONDS = 0.05
"""How long counting a query's matches (up to :data:`RANKED_MATCHES`) may take; a query whose count takes longer
(a phrase of two common words in a large corpus) is too broad to rank anyway."""
LAYOUT = 2
"""The index's layout (2: prefix indexes); an index of another is rebuilt by the next refresh."""
MAX_SECONDS = 2.0
"""How long any search may take: past it, SQLite stops it and the caller gets a clear error, not a held worker."""
_SCHEMA = """
CREATE VIRTUAL TABLE IF NOT EXISTS utterances USING fts5(
    text, speaker UNINDEXED, transcript UNINDEXED, start UNINDEXED,
    tokenize = 'unicode61 remove_diacritics 2', prefix = '3 4'
);
CREATE TABLE IF NOT EXISTS meetings (
    transcript TEXT PRIMARY KEY, source TEXT, date TEXT, language TEXT, first_row INTEGER, last_row INTEGER
);
CREATE TABLE IF NOT EXISTS state (name TEXT PRIMARY KEY, value INTEGER);
"""


class SearchQueryError(QualiaError):
    """A search query the index cannot read."""


@dataclass(frozen=True)
class Meeting:
    """What the index holds of one transcript: its utterances (speaker, start in seconds, text) and facts."""

    key: str
    source: str
    date: str | None
    language: str | None
    utterances: Sequence[tuple[str | None, float | None, str]]


@dataclass(frozen=True)
class SearchResult:
    matches: list[dict[str, Any]]
    order: SearchOrder


@dataclass(frozen=True)
class SearchFilters:
    speaker: str | None = None
    transcript: str | None = None
    language: str | None = None
    since: str | None = None
    until: str | None = None


class SearchIndex:
    """The index in the SQLite file at ``path``."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)

    @contextmanager
    def _connection(self) -> Iterator[sqlite3.Connection]:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with closing(sqlite3.connect(self.path, timeout=30)) as connection:
            connection.execute("PRAGMA journal_mode = WAL")
            connection.executescript(_SCHEMA)
            yield connection

    @property
    def outdated(self) -> bool:
        """Written in an older layout (without prefix indexes): the next refresh builds it again."""
        if not self.path.exists():
            return False
        with self._connection() as db:
            layout = db.execute("SELECT value FROM state WHERE name = 'layout'").fetchone()
            return (layout[0] if layout else 1) < LAYOUT and db.execute("SELECT 1 FROM meetings").fetchone() is not None

    def reset(self) -> None:
        """Remove the index (its next refresh takes every transcript in); searches underway finish on the old."""
        for suffix in ("", "-wal", "-shm"):
            Path(f"{self.path}{suffix}").unlink(missing_ok=True)

    @property
    def cursor(self) -> int | None:
        """The event-log storage id up to which changes were taken in."""
        with self._connection() as db:
            row = db.execute("SELECT value FROM state WHERE name = 'cursor'").fetchone()
        return row[0] if row else None

    def keys(self) -> set[str]:
        with self._connection() as db:
            return {key for (key,) in db.execute("SELECT transcript FROM meetings")}

    def apply(self, changed: Iterable[Meeting], removed: Iterable[str] = (), cursor: int | None = None) -> None:
        """Replace ``changed`` transcripts' utterances, drop ``removed`` ones, record ``cursor``: one transaction."""
        with self._connection() as db, db:
            for meeting in changed:
                self._remove(db, meeting.key)
                first = (db.execute("SELECT max(rowid) FROM utterances").fetchone()[0] or 0) + 1
                rows = [(text, speaker, meeting.key, start) for speaker, start, text in meeting.utterances if text]
                db.executemany("INSERT INTO utterances (text, speaker, transcript, start) VALUES (?, ?, ?, ?)", rows)
                db.execute(
                    "INSERT INTO meetings VALUES (?, ?, ?, ?, ?, ?)",
                    (meeting.key, meeting.source, meeting.date, meeting.language, first, first + len(rows) - 1),
                )
            for key in removed:
                self._remove(db, key)
            if cursor is not None:
                db.execute("INSERT OR REPLACE INTO state VALUES ('cursor', ?)", (cursor,))
            db.execute("INSERT OR REPLACE INTO state VALUES ('layout', ?)", (LAYOUT,))

    @staticmethod
    def _remove(db: sqlite3.Connection, key: str) -> None:
        span = db.execute("SELECT first_row, last_row FROM meetings WHERE transcript = ?", (key,)).fetchone()
        if span:
            db.execute("DELETE FROM utterances WHERE rowid BETWEEN ? AND ?", span)
            db.execute("DELETE FROM meetings WHERE transcript = ?", (key,))

    def search(
        self,
        query: str,
        filters: SearchFilters = SearchFilters(),
        limit: int = 20,
        offset: int = 0,
        order: SearchOrder = "relevance",
    ) -> SearchResult:
        """The utterances matching ``query``: transcript, original file, speaker, time in the meeting, meeting
        date, the utterance and a keyword-in-context snippet with each match in [brackets].

        Best first (BM25) when the matches can be ranked within :data:`RANKING_SECONDS`; a query that matches
        too much for that (a very common word across a large corpus) is answered newest first instead, which
        needs no scoring of every match, and the result says so: pass its ``order`` back for the next page.
        """
        if not query.strip() or len(query) > MAX_QUERY_CHARS:
            raise SearchQueryError(f"q: a search needs 1 to {MAX_QUERY_CHARS} characters")
        if short := SHORT_PREFIX.search(query):
            raise SearchQueryError(f"q: a prefix needs at least 3 letters ({short.group().strip()!r} is too short)")
        conditions, values = _filter_clauses(filters)
        arguments = (query, *values, min(limit, MAX_PAGE), offset)
        with closing(sqlite3.connect(self.path, timeout=30)) as db:  # reads only: no schema, no pragma
            if order == "relevance" and _rankable(db, query):
                ranked = _search_sql(conditions, "bm25(utterances)", "score, u.rowid")
                rows = _rows(db, ranked, arguments, query, RANKING_SECONDS)
                if rows is not None:
                    return SearchResult(_matches(rows), "relevance")
            # no score: BM25 needs each phrase's count over the whole index, whatever the order
            newest = _search_sql(conditions, "NULL", "u.rowid DESC")
            rows = _rows(db, newest, arguments, query, MAX_SECONDS)
        if rows is None:
            raise SearchQueryError(f"q: {query!r} with these filters takes too long to answer; narrow it down")
        return SearchResult(_matches(rows), "newest")


def _rankable(db: sqlite3.Connection, query: str) -> bool:
    """Whether the query has few enough matches to rank: counted up to :data:`RANKED_MATCHES`, in at most
    :data:`COUNTING_SECONDS` (a quarter of what trying to rank too many would waste before giving up)."""
    sql = f"SELECT count(*) FROM (SELECT 1 FROM utterances WHERE utterances MATCH ? LIMIT {RANKED_MATCHES + 1})"
    counted = _rows(db, sql, (query,), query, COUNTING_SECONDS)
    return counted is not None and counted[0][0] <= RANKED_MATCHES


def _rows(db: sqlite3.Connection, sql: str, arguments: tuple[Any, ...], query: str, seconds: float) -> list | None:
    """The query's rows, or None when it runs out of ``seconds``: a timer interrupts SQLite, which stops even
    inside FTS5's own loops (merging a prefix's lists, looking for a phrase), where a progress handler, run
    only between the statement's steps, would wait for them. No time at all: not even started."""
    if seconds <= 0:
        return None
    timer = threading.Timer(seconds, db.interrupt)
    timer.start()
    try:
        return db.execute(sql, arguments).fetchall()
    except sqlite3.OperationalError as exc:
        if "interrupted" in str(exc):
            return None
        raise SearchQueryError(f"q: {query!r} is not a search the index can read ({exc})") from None
    finally:
        timer.cancel()


def _search_sql(conditions: list[str], score: str, order_by: str) -> str:
    return (
        "SELECT u.transcript, m.source, u.speaker, u.start, m.date, m.language, u.text, "
        f"snippet(utterances, 0, '[', ']', '…', 16), {score} AS score "
        "FROM utterances u JOIN meetings m ON m.transcript = u.transcript "
        f"WHERE utterances MATCH ? {''.join(' AND ' + c for c in conditions)} "
        f"ORDER BY {order_by} LIMIT ? OFFSET ?"
    )


def _matches(rows: list[tuple]) -> list[dict[str, Any]]:
    names = ("transcript", "file", "speaker", "start", "date", "language", "text", "context", "score")
    return [dict(zip(names, (*row[:8], None if row[8] is None else round(-row[8], 4)), strict=True)) for row in rows]


def _filter_clauses(filters: SearchFilters) -> tuple[list[str], list[Any]]:
    clauses: Mapping[str, tuple[str, Any]] = {
        "speaker": ("u.speaker = ?", filters.speaker),
        "transcript": ("u.transcript = ?", filters.transcript),
        "language": ("m.language = ?", filters.language),
        "since": ("substr(m.date, 1, 10) >= ?", filters.since),  # ISO dates: the day, inclusive
        "until": ("substr(m.date, 1, 10) <= ?", filters.until),
    }
    chosen = [(clause, value) for clause, value in clauses.values() if value is not None]
    return [clause for clause, _ in chosen], [value for _, value in chosen]
