"""The corpus store: what the corpus tables are computed from, kept up to date one drop at a time.

A refresh takes in only the transcripts that changed since the last one (and drops the removed ones), so
its cost follows the drop, not the corpus; DuckDB computes the tables from columnar files, and no JSON record
of an unchanged transcript is read again. The store is a folder of Parquet files that `qualia`, the API and
a notebook can query (README, "The corpus store"):

- ``state.json``: the current generation, the event-log cursor up to which changes were taken in, and the
  rows of each word-count batch. Written last, by renaming: readers that start from it see one consistent
  generation, and a crash mid-refresh leaves the previous one in place.
- ``transcripts-<g>.parquet``: one row per transcript in the corpus (its sentiment, date, word total, the
  batch that holds its word counts).
- ``speakers-<g>.parquet``: one row per transcript and speaker.
- ``vocabulary-<g>.parquet``: one row per word: total count and how many transcripts use it, folded forward
  at each refresh (old counts subtracted, new ones added).
- ``word_counts/batch-<b>.parquet``: (transcript, word, count) of the transcripts one refresh took in. A
  transcript's live rows are those in the batch its ``transcripts`` row names; batches are rewritten into
  one when dead rows outnumber live ones.
"""

from __future__ import annotations

import fcntl
import json
import math
import os
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from qualia_pipelines.core.storage import write_json_atomic

TOP_DISTINCTIVE = 10
DUCKDB_MEMORY = "768MB"
"""DuckDB's own memory limit (it spills beyond it), so a refresh of 100,000 transcripts stays within 1.5 GB."""

TRANSCRIPTS = pa.schema(
    [
        ("transcript", pa.string()),
        ("counted", pa.bool_()),
        ("batch", pa.int64()),
        ("words", pa.int64()),
        ("distinct_words", pa.int64()),
        ("tenth_count", pa.int64()),
        ("date", pa.timestamp("us", tz="UTC")),
        ("language", pa.string()),
        ("polarity", pa.float64()),
        ("label", pa.string()),
        ("share_positive", pa.float64()),
        ("share_negative", pa.float64()),
        ("segments", pa.int64()),
        ("engine", pa.string()),
    ]
)
SPEAKERS = pa.schema(
    [
        ("transcript", pa.string()),
        ("speaker", pa.string()),
        ("utterances", pa.int64()),
        ("words", pa.int64()),
        ("talk_time_s", pa.float64()),
        ("share_of_words", pa.float64()),
    ]
)
VOCABULARY = pa.schema([("word", pa.string()), ("count", pa.int64()), ("transcripts", pa.int64())])
WORD_COUNTS = pa.schema(
    [("batch", pa.int64()), ("transcript", pa.string()), ("word", pa.string()), ("count", pa.int64())]
)


@dataclass(frozen=True)
class TranscriptFacts:
    """What the corpus takes from one transcript's stored records; None where a plugin has no result for it."""

    key: str
    word_counts: Mapping[str, int] | None = None
    date: str | None = None
    sentiment: Mapping[str, Any] | None = None
    speakers: Sequence[Mapping[str, Any]] | None = None


@dataclass
class StoreState:
    """Which files make up the store now, and how far into the event log it has read."""

    generation: int = 0
    cursor: int | None = None
    batches: dict[str, int] = field(default_factory=dict)  # batch number -> rows written

    @property
    def next_batch(self) -> int:
        return max(map(int, self.batches), default=0) + 1


class CorpusStore:
    """The store in ``root``; see the module docstring for its layout."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    @property
    def state(self) -> StoreState:
        path = self.root / "state.json"
        if not path.exists():
            return StoreState()
        data = json.loads(path.read_text(encoding="utf-8"))
        return StoreState(data["generation"], data["cursor"], {str(k): int(v) for k, v in data["batches"].items()})

    def keys(self) -> set[str]:
        """The transcripts in the corpus."""
        return set(self._table("transcripts", self.state, columns=["transcript"])["transcript"])

    def keys_with_words(self) -> set[str]:
        """The transcripts with at least one counted word: each has rows in ``distinctive_words``."""
        frame = self._table("transcripts", self.state, columns=["transcript", "distinct_words"])
        return set(frame.loc[frame["distinct_words"] > 0, "transcript"])

    def keys_with_sentiment(self) -> set[str]:
        """The transcripts with a polarity (a language with a sentiment engine): each has a row over time."""
        frame = self._table("transcripts", self.state, columns=["transcript", "polarity"])
        return set(frame.loc[frame["polarity"].notna(), "transcript"])

    def apply(self, changed: Iterable[TranscriptFacts], removed: Iterable[str] = (), cursor: int | None = None) -> None:
        """Take in ``changed`` (new or changed transcripts), drop ``removed``, and record ``cursor``; one refresh
        at a time (a lock file), as each builds on the state the last one wrote."""
        self.root.mkdir(parents=True, exist_ok=True)
        with (self.root / ".lock").open("w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            self._apply(list(changed), set(removed), cursor)

    def _apply(self, changed: list[TranscriptFacts], removed: set[str], cursor: int | None) -> None:
        state = self.state
        changed = {facts.key: facts for facts in changed}
        transcripts = self._table("transcripts", state)
        affected = (set(changed) | set(removed)) & set(transcripts["transcript"])
        vocabulary = _indexed_vocabulary(self._table("vocabulary", state))
        vocabulary = vocabulary.sub(self._word_totals(state, transcripts, affected), fill_value=0)
        counted = [facts for facts in changed.values() if facts.word_counts is not None]
        batch = state.next_batch
        new_rows = _word_count_rows(counted, batch)
        vocabulary = vocabulary.add(_totals_of(new_rows), fill_value=0).astype("int64")
        batches = dict(state.batches)
        if len(new_rows):
            _write_parquet(self._batch_path(batch), new_rows, WORD_COUNTS)
            batches[str(batch)] = len(new_rows)
        kept = transcripts[~transcripts["transcript"].isin(affected)]
        transcripts = pd.concat([kept, _transcript_rows(changed.values(), batch)], ignore_index=True)
        speakers = self._table("speakers", state)
        speakers = pd.concat(
            [speakers[~speakers["transcript"].isin(affected)], _speaker_rows(changed.values())], ignore_index=True
        )
        transcripts, batches = self._compacted(transcripts, batches)
        generation = state.generation + 1
        live = vocabulary[vocabulary["transcripts"] > 0].rename_axis("word").reset_index()
        _write_parquet(self._path("vocabulary", generation), live, VOCABULARY)
        _write_parquet(self._path("transcripts", generation), transcripts, TRANSCRIPTS)
        _write_parquet(self._path("speakers", generation), speakers, SPEAKERS)
        new_state = StoreState(generation, cursor if cursor is not None else state.cursor, batches)
        write_json_atomic(self.root / "state.json", new_state.__dict__)
        self._remove_unused(new_state)

    @contextmanager
    def connection(self) -> Iterator[Any]:
        """A DuckDB connection with a view per table of the current generation (``transcripts``, ``speakers``,
        ``vocabulary``, and ``word_counts`` holding each transcript's live rows only)."""
        import duckdb

        state = self.state
        connection = duckdb.connect(config={"threads": min(os.cpu_count() or 1, 4), "memory_limit": DUCKDB_MEMORY})
        try:
            for name, schema in (("transcripts", TRANSCRIPTS), ("speakers", SPEAKERS), ("vocabulary", VOCABULARY)):
                connection.execute(f"CREATE VIEW {name} AS {self._select(name, state, schema)}")
            batches = [str(self._batch_path(int(batch))) for batch in state.batches]
            source = f"read_parquet({batches!r})" if batches else _empty_select(WORD_COUNTS)
            connection.execute(
                "CREATE VIEW word_counts AS SELECT w.transcript, w.word, w.count FROM "
                f"{source} w JOIN transcripts t ON t.transcript = w.transcript AND t.batch = w.batch"
            )
            yield connection
        finally:
            connection.close()

    def query(self, sql: str) -> pd.DataFrame:
        """The answer to a read-only SQL query over the store's views (a notebook's or `qualia corpus --sql`)."""
        with self.connection() as db:
            return db.execute(sql).df()

    def vocabulary(self) -> pd.DataFrame:
        """Every word across the corpus: total count and how many transcripts use it."""
        with self.connection() as db:
            return (
                db.execute("SELECT word, count, transcripts FROM vocabulary ORDER BY count DESC, word")
                .df()
                .astype({"count": "int64", "transcripts": "int64"})
            )

    def distinctive_words(self) -> pd.DataFrame:
        """Per transcript, the words that set it apart: TF-IDF with smoothed IDF, ln((1+N)/(1+df)) + 1, the top
        :data:`TOP_DISTINCTIVE`.

        Only words that can reach that top are scored: no IDF exceeds ln((1+N)/2) + 1 and none is below 1, so a
        word whose count times that ceiling stays under the transcript's ``tenth_count`` (its
        :data:`TOP_DISTINCTIVE`-th largest count, stored as it is taken in) cannot outscore its commonest words.
        The result is the same as scoring all.
        """
        with self.connection() as db:
            documents = db.execute("SELECT count(*) FROM transcripts WHERE counted").fetchone()[0]
            ceiling = math.log((1 + documents) / 2) + 1
            frame = db.execute(
                f"""
                WITH candidates AS (
                    SELECT w.transcript, w.word, w.count, w.count / greatest(t.words, 1) AS tf,
                           ln((1 + {documents}) / (1 + v.transcripts)) + 1 AS idf
                    FROM word_counts w
                    JOIN transcripts t ON t.transcript = w.transcript
                    JOIN vocabulary v ON v.word = w.word
                    WHERE w.count * {ceiling} >= t.tenth_count
                ), ranked AS (
                    SELECT *, tf * idf AS tfidf,
                           row_number() OVER (PARTITION BY transcript ORDER BY tf * idf DESC, word) AS rank
                    FROM candidates
                )
                SELECT transcript, rank, word, count, tf, idf, tfidf
                FROM ranked WHERE rank <= {TOP_DISTINCTIVE} ORDER BY transcript, rank
                """
            ).df()
        return frame.round({"tf": 6, "idf": 6, "tfidf": 6}).astype({"rank": "int64", "count": "int64"})

    def sentiment_over_time(self) -> pd.DataFrame:
        """One row per meeting in date order: polarity, label and label shares (meetings in a language without
        a sentiment engine have none, and no row)."""
        columns = ["transcript", "date", "polarity", "label", "share_positive", "share_negative", "segments"]
        frame = self._table("transcripts", self.state)
        frame = frame[frame["polarity"].notna()][[*columns, "engine", "language"]]
        return frame.sort_values(["date", "transcript"], ignore_index=True).astype({"segments": "int64"})

    def participation(self) -> pd.DataFrame:
        """Per speaker across meetings: meetings attended, turns, words, talk time, mean share of words."""
        with self.connection() as db:
            frame = db.execute(
                """
                SELECT speaker, count(DISTINCT transcript) AS meetings, sum(utterances) AS utterances,
                       sum(words) AS words, CAST(coalesce(sum(talk_time_s), 0) AS DOUBLE) AS talk_time_s,
                       round(avg(share_of_words), 4) AS mean_share_of_words
                FROM speakers GROUP BY speaker ORDER BY words DESC, speaker
                """
            ).df()
        return frame.astype({"meetings": "int64", "utterances": "int64", "words": "int64"})

    def _table(self, name: str, state: StoreState, columns: list[str] | None = None) -> pd.DataFrame:
        schema = {"transcripts": TRANSCRIPTS, "speakers": SPEAKERS, "vocabulary": VOCABULARY}[name]
        path = self._path(name, state.generation)
        if state.generation == 0 or not path.exists():
            return schema.empty_table().to_pandas()[columns or schema.names]
        table = pq.read_table(path, columns=columns)
        return table.cast(pa.schema([schema.field(name) for name in table.column_names])).to_pandas()

    def _select(self, name: str, state: StoreState, schema: pa.Schema) -> str:
        path = self._path(name, state.generation)
        return f"SELECT * FROM read_parquet('{path}')" if state.generation else _empty_select(schema)

    def _word_totals(self, state: StoreState, transcripts: pd.DataFrame, keys: set[str]) -> pd.DataFrame:
        """Each word's count and transcripts over the live rows of ``keys``: what leaves the vocabulary."""
        rows = transcripts[transcripts["transcript"].isin(keys) & transcripts["batch"].notna()]
        if rows.empty:
            return _totals_of(pd.DataFrame(columns=WORD_COUNTS.names))
        parts = [self._rows_of(int(batch), group["transcript"]) for batch, group in rows.groupby("batch")]
        return _totals_of(pa.concat_tables(parts).to_pandas())

    def _compacted(self, transcripts: pd.DataFrame, batches: dict[str, int]) -> tuple[pd.DataFrame, dict[str, int]]:
        """Every live row in one new batch once the batches hold more dead rows than live ones."""
        live = int(transcripts["distinct_words"].sum())
        if len(batches) < 2 or sum(batches.values()) <= 2 * live:
            return transcripts, batches
        batch = max(map(int, batches)) + 1
        frames = [self._rows_of(int(number), group["transcript"]) for number, group in transcripts.groupby("batch")]
        if not frames:
            return transcripts, {}
        _write_parquet(self._batch_path(batch), pa.concat_tables(frames).to_pandas().assign(batch=batch), WORD_COUNTS)
        transcripts = transcripts.assign(batch=transcripts["batch"].where(transcripts["batch"].isna(), batch))
        return transcripts, {str(batch): live}

    def _rows_of(self, batch: int, keys: Iterable[str]) -> pa.Table:
        """The rows ``batch`` holds for ``keys``."""
        return pq.read_table(self._batch_path(batch), filters=[("transcript", "in", list(keys))])

    def _remove_unused(self, state: StoreState) -> None:
        """Files of earlier generations and batches no longer named by the state (after it was written)."""
        current = {self._path(name, state.generation).name for name in ("transcripts", "speakers", "vocabulary")}
        for path in self.root.glob("*-*.parquet"):
            if path.name not in current:
                path.unlink(missing_ok=True)
        for path in (self.root / "word_counts").glob("batch-*.parquet"):
            if path.stem.removeprefix("batch-") not in state.batches:
                path.unlink(missing_ok=True)

    def _path(self, name: str, generation: int) -> Path:
        return self.root / f"{name}-{generation}.parquet"

    def _batch_path(self, batch: int) -> Path:
        return self.root / "word_counts" / f"batch-{batch}.parquet"


def _indexed_vocabulary(frame: pd.DataFrame) -> pd.DataFrame:
    return frame.set_index("word")[["count", "transcripts"]].astype("int64")


def _totals_of(rows: pd.DataFrame) -> pd.DataFrame:
    """Per word: total count and number of transcripts, from (transcript, word, count) rows."""
    if rows.empty:
        return pd.DataFrame({"count": [], "transcripts": []}, dtype="int64", index=pd.Index([], name="word"))
    grouped = rows.groupby("word").agg(count=("count", "sum"), transcripts=("transcript", "nunique"))
    return grouped.astype("int64")


def _word_count_rows(facts: Sequence[TranscriptFacts], batch: int) -> pd.DataFrame:
    rows = [(batch, f.key, word, int(c)) for f in facts for word, c in (f.word_counts or {}).items() if c]
    return pd.DataFrame(rows, columns=WORD_COUNTS.names)


def _transcript_rows(facts: Iterable[TranscriptFacts], batch: int | None) -> pd.DataFrame:
    rows = []
    for f in facts:
        counts = sorted((int(c) for c in (f.word_counts or {}).values() if c), reverse=True)
        mood = f.sentiment or {}
        statistics = mood.get("statistics") or {}
        rows.append(
            {
                "transcript": f.key,
                "counted": f.word_counts is not None,
                "batch": batch if counts else None,
                "words": sum(counts),
                "distinct_words": len(counts),
                "tenth_count": counts[TOP_DISTINCTIVE - 1] if len(counts) >= TOP_DISTINCTIVE else 0,
                "date": _utc(f.date),
                "language": mood.get("language"),
                "polarity": mood.get("polarity"),
                "label": mood.get("sentiment_label") if mood.get("polarity") is not None else None,
                "share_positive": statistics.get("share_positive"),
                "share_negative": statistics.get("share_negative"),
                "segments": statistics.get("segments"),
                "engine": mood.get("engine"),
            }
        )
    return pa.Table.from_pylist(rows, schema=TRANSCRIPTS).to_pandas()


def _speaker_rows(facts: Iterable[TranscriptFacts]) -> pd.DataFrame:
    rows = [
        {name: row.get(name) for name in SPEAKERS.names if name != "transcript"} | {"transcript": f.key}
        for f in facts
        for row in f.speakers or ()
    ]
    return pa.Table.from_pylist(rows, schema=SPEAKERS).to_pandas()


def _utc(value: str | None) -> pd.Timestamp | None:
    """Dates as UTC; a date without a zone (as Teams DOCX writes them) is taken as UTC."""
    if not value:
        return None
    stamp = pd.Timestamp(value)
    return stamp.tz_localize("UTC") if stamp.tzinfo is None else stamp.tz_convert("UTC")


def _write_parquet(path: Path, frame: pd.DataFrame, schema: pa.Schema) -> None:
    """``frame`` as Parquet at ``path``, written to a temporary name and renamed."""
    path.parent.mkdir(parents=True, exist_ok=True)
    table = pa.Table.from_pandas(frame[schema.names], schema=schema, preserve_index=False)
    temporary = path.with_name(f".{path.name}.tmp")
    pq.write_table(table, temporary)
    os.replace(temporary, path)


def _empty_select(schema: pa.Schema) -> str:
    """A query of no rows with the table's columns: the store before its first refresh."""
    types = {pa.string(): "VARCHAR", pa.int64(): "BIGINT", pa.float64(): "DOUBLE", pa.bool_(): "BOOLEAN"}
    columns = [f"NULL::{types.get(f.type, 'TIMESTAMPTZ')} AS {f.name}" for f in schema]
    return f"(SELECT {', '.join(columns)} WHERE false)"
