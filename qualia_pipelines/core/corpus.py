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
- ``speakers-<g>.parquet``: one row per transcript and speaker (turns, words, talk time, share of words, mean
  sentiment).
- ``vocabulary-<g>.parquet``: one row per word: total count and how many transcripts use it, folded forward
  at each refresh (old counts subtracted, new ones added).
- ``word_counts/batch-<b>.parquet``: (transcript, word, count) of the transcripts one refresh took in. A
  transcript's live rows are those in the batch its ``transcripts`` row names; batches are rewritten into
  one when dead rows outnumber live ones.
- ``coding/<project>/{coded_segments,code_counts}.parquet``: coding brought back from a QDA tool by
  `qualia import-qda` (see :mod:`qualia_pipelines.core.qda_import`), one folder per imported project; a
  refresh leaves them alone.
"""

from __future__ import annotations

import fcntl
import json
import math
import os
import re
import shutil
import tempfile
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from qualia_pipelines.core.contract import QualiaError
from qualia_pipelines.core.storage import write_json_atomic

TOP_DISTINCTIVE = 10
TREND_WORDS = 20
"""How many of the corpus's commonest words the ``word_trends`` table follows week by week (any other word:
:meth:`CorpusStore.word_trend`)."""
LAYOUT = 2
"""The store's layout: a store written by an older one is rebuilt from the records at the next refresh."""
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
        ("polarity", pa.float64()),
    ]
)
VOCABULARY = pa.schema([("word", pa.string()), ("count", pa.int64()), ("transcripts", pa.int64())])
WORD_COUNTS = pa.schema(
    [("batch", pa.int64()), ("transcript", pa.string()), ("word", pa.string()), ("count", pa.int64())]
)
CODING_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,79}")
"""An imported project's name: its folder under ``coding/``."""


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
    layout: int = LAYOUT

    @property
    def next_batch(self) -> int:
        return max(map(int, self.batches), default=0) + 1


class CorpusStore:
    """The store in ``root``; see the module docstring for its layout."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    @property
    def built(self) -> bool:
        """Whether a refresh has written the store (its ``state.json``)."""
        return (self.root / "state.json").exists()

    @property
    def state(self) -> StoreState:
        path = self.root / "state.json"
        if not path.exists():
            return StoreState()
        data = json.loads(path.read_text(encoding="utf-8"))
        batches = {str(k): int(v) for k, v in data["batches"].items()}
        return StoreState(data["generation"], data["cursor"], batches, data.get("layout", 1))

    @property
    def outdated(self) -> bool:
        """Written by an older layout: the next refresh takes every transcript in again."""
        return self.state.layout < LAYOUT

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
        with self.locked():
            self._apply(list(changed), set(removed), cursor)

    @contextmanager
    def locked(self) -> Iterator[None]:
        """The store's lock: one refresh at a time, and no refresh while a backup reads the files (a store not
        made yet has nothing to lock)."""
        if not self.root.is_dir():
            yield
            return
        with (self.root / ".lock").open("w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            yield

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
        new_state = StoreState(generation, cursor if cursor is not None else state.cursor, batches, LAYOUT)
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
            connection.execute("SET TimeZone = 'UTC'")  # weeks start on Monday in UTC, whatever the machine's zone
            for name, schema in (("transcripts", TRANSCRIPTS), ("speakers", SPEAKERS), ("vocabulary", VOCABULARY)):
                connection.execute(f"CREATE VIEW {name} AS {self._select(name, state, schema)}")
            batches = [str(self._batch_path(int(batch))) for batch in state.batches]
            source = f"read_parquet({batches!r})" if batches else _empty_select(WORD_COUNTS)
            connection.execute(
                "CREATE VIEW word_counts AS SELECT w.transcript, w.word, w.count FROM "
                f"{source} w JOIN transcripts t ON t.transcript = w.transcript AND t.batch = w.batch"
            )
            for name, schema in self._coding_schemas().items():
                files = sorted(str(path) for path in (self.root / "coding").glob(f"*/{name}.parquet"))
                connection.execute(
                    f"CREATE VIEW {name} AS "
                    + (f"SELECT * FROM read_parquet({files!r})" if files else _empty_select(schema))
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

    def speaker_trends(self) -> pd.DataFrame:
        """Per speaker and dated meeting, in date order: the week, share of words, turns, words, talk time and
        mean sentiment, so a speaker's participation and mood can be followed over time."""
        with self.connection() as db:
            frame = db.execute(
                """
                SELECT s.speaker, s.transcript, t.date, CAST(date_trunc('week', t.date) AS DATE) AS week,
                       s.share_of_words, s.utterances, s.words, s.talk_time_s, s.polarity
                FROM speakers s JOIN transcripts t ON t.transcript = s.transcript
                WHERE t.date IS NOT NULL ORDER BY t.date, s.transcript, s.speaker
                """
            ).df()
        return _dated_weeks(frame.astype({"utterances": "int64", "words": "int64"}))

    def word_trends(self) -> pd.DataFrame:
        """Week by week, how often each of the corpus's :data:`TREND_WORDS` commonest words was said: count,
        meetings that used it, and per 1,000 counted words of that week's meetings."""
        with self.connection() as db:
            words = [word for (word,) in db.execute(
                f"SELECT word FROM vocabulary ORDER BY count DESC, word LIMIT {TREND_WORDS}").fetchall()]  # fmt: skip
            return _weekly(db, {word: [word] for word in words})

    def word_trend(self, word: str) -> tuple[pd.DataFrame, pd.DataFrame]:
        """One word's frequency per week (every week with dated meetings, 0 where it was not said), and per dated
        meeting that said it, newest first (count, words counted, per 1,000 words).

        Accents and case are ignored, as in search: "integracao" counts "integração" and "integracao". The forms
        are looked up in the vocabulary first, so the word counts are filtered by exact words.
        """
        with self.connection() as db:
            forms = [form for (form,) in db.execute(
                "SELECT word FROM vocabulary WHERE strip_accents(word) = strip_accents($word)", {"word": word}
            ).fetchall()]  # fmt: skip
            weeks = _weekly(db, {word: forms})
            meetings = db.execute(
                """
                SELECT t.transcript, t.date, CAST(date_trunc('week', t.date) AS DATE) AS week, sum(w.count) AS count,
                       any_value(t.words) AS words,
                       round(1000.0 * sum(w.count) / greatest(any_value(t.words), 1), 3) AS per_1000_words
                FROM word_counts w JOIN transcripts t ON t.transcript = w.transcript
                WHERE w.word IN (SELECT unnest($forms)) AND t.date IS NOT NULL
                GROUP BY t.transcript, t.date ORDER BY t.date DESC, t.transcript
                """,
                {"forms": forms},
            ).df()
        return weeks, _dated_weeks(meetings.astype({"count": "int64", "words": "int64"}))

    def coded_segments(self) -> pd.DataFrame:
        """Every imported project's coded selections: code, transcript, speaker, coded text."""
        return self.query("SELECT * FROM coded_segments ORDER BY project, transcript, start_position, code")

    def code_counts(self) -> pd.DataFrame:
        """Every imported project's selections and coded characters per code, transcript and speaker."""
        return self.query("SELECT * FROM code_counts ORDER BY project, code, transcript, speaker")

    def add_coding(self, name: str, segments: pd.DataFrame, counts: pd.DataFrame, replace: bool = False) -> Path:
        """Keep an imported project's tables as ``coding/<name>/``; an earlier import of that name is kept
        unless ``replace`` (then swapped whole, so readers see the old tables or the new ones)."""
        from qualia_pipelines.core.qda_import import CODE_COUNTS, CODED_SEGMENTS

        if not CODING_NAME.fullmatch(name):
            raise QualiaError(f"name: {name!r} must be 1-80 letters, digits, '.', '_' or '-', starting alphanumeric")
        folder = self.root / "coding" / name
        if folder.exists() and not replace:
            raise QualiaError(f"name: a project named {name!r} was already imported (replace it, or choose a name)")
        folder.parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=f".{name}.", dir=folder.parent))
        _write_parquet(staging / "coded_segments.parquet", segments, CODED_SEGMENTS)
        _write_parquet(staging / "code_counts.parquet", counts, CODE_COUNTS)
        old = folder.with_name(f".{name}.replaced")
        if folder.exists():
            os.replace(folder, old)
        os.replace(staging, folder)
        shutil.rmtree(old, ignore_errors=True)
        return folder

    @staticmethod
    def _coding_schemas() -> dict[str, pa.Schema]:
        from qualia_pipelines.core.qda_import import CODE_COUNTS, CODED_SEGMENTS

        return {"coded_segments": CODED_SEGMENTS, "code_counts": CODE_COUNTS}

    def _table(self, name: str, state: StoreState, columns: list[str] | None = None) -> pd.DataFrame:
        schema = {"transcripts": TRANSCRIPTS, "speakers": SPEAKERS, "vocabulary": VOCABULARY}[name]
        path = self._path(name, state.generation)
        if state.generation == 0 or not path.exists():
            return schema.empty_table().to_pandas()[columns or schema.names]
        table = pq.read_table(path, columns=columns)
        for missing in (f for f in schema if columns is None and f.name not in table.column_names):  # older layout
            table = table.append_column(missing, pa.nulls(len(table), missing.type))
        table = table.select(columns or schema.names)
        return table.cast(pa.schema([schema.field(name) for name in table.column_names])).to_pandas()

    def _select(self, name: str, state: StoreState, schema: pa.Schema) -> str:
        """The table's rows with the layout's columns (a column an older layout lacks reads as nulls)."""
        path = self._path(name, state.generation)
        if not state.generation:
            return _empty_select(schema)
        present = set(pq.read_schema(path).names)
        columns = [f'"{f.name}"' if f.name in present else _null_column(f) for f in schema]
        return f"SELECT {', '.join(columns)} FROM read_parquet('{path}')"

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


def counted_form(word: str) -> str:
    """``word`` as the word counts hold it (curly quotes folded, lower case); an error unless it is one word."""
    from qualia_pipelines.core.text import WORD_PATTERN, normalise_quotes

    folded = normalise_quotes(word.strip()).lower()
    if len(folded) > 100 or not WORD_PATTERN.fullmatch(folded):
        raise QualiaError(f"word: {word[:100]!r} is not one word (letters, with inner ' or -)")
    return folded


def _weekly(db: Any, series: Mapping[str, Sequence[str]]) -> pd.DataFrame:
    """Per week and word of ``series`` (a word and the forms counted as it): count, meetings that used it, and
    per 1,000 counted words that week (every week with dated meetings is listed, a word unused that week with 0)."""
    pairs = [(word, form) for word, forms in series.items() for form in forms]
    frame = db.execute(
        """
        WITH weeks AS (
            SELECT CAST(date_trunc('week', date) AS DATE) AS week, count(*) AS meetings, sum(words) AS words
            FROM transcripts WHERE date IS NOT NULL AND counted GROUP BY 1
        ), forms AS (
            SELECT unnest($labels) AS word, unnest($forms) AS form
        ), used AS (
            SELECT CAST(date_trunc('week', t.date) AS DATE) AS week, f.word, sum(w.count) AS count,
                   count(DISTINCT w.transcript) AS meetings_using
            FROM word_counts w JOIN forms f ON f.form = w.word JOIN transcripts t ON t.transcript = w.transcript
            WHERE w.word IN (SELECT form FROM forms) AND t.date IS NOT NULL GROUP BY 1, 2
        )
        SELECT k.week, x.word, coalesce(u.count, 0) AS count, coalesce(u.meetings_using, 0) AS meetings_using,
               k.meetings, k.words, round(1000.0 * coalesce(u.count, 0) / greatest(k.words, 1), 3) AS per_1000_words
        FROM weeks k CROSS JOIN (SELECT unnest($words) AS word) x
        LEFT JOIN used u ON u.week = k.week AND u.word = x.word
        ORDER BY k.week, x.word
        """,
        {"labels": [p[0] for p in pairs], "forms": [p[1] for p in pairs], "words": list(series)},
    ).df()
    return _dated_weeks(
        frame.astype({"count": "int64", "meetings_using": "int64", "meetings": "int64", "words": "int64"})
    )


def _dated_weeks(frame: pd.DataFrame) -> pd.DataFrame:
    """Weeks as dates (their Monday), not midnight timestamps: what a table of weeks shows and stores."""
    return frame.assign(week=pd.to_datetime(frame["week"]).dt.date)


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
    rows = []
    for f in facts:
        moods = {row["speaker"]: row["polarity"] for row in (f.sentiment or {}).get("by_speaker") or ()}
        for row in f.speakers or ():
            known = {name: row.get(name) for name in SPEAKERS.names if name not in ("transcript", "polarity")}
            rows.append(known | {"transcript": f.key, "polarity": moods.get(row["speaker"])})
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
    return f"(SELECT {', '.join(map(_null_column, schema))} WHERE false)"


def _null_column(column: pa.Field) -> str:
    types = {pa.string(): "VARCHAR", pa.int64(): "BIGINT", pa.float64(): "DOUBLE", pa.bool_(): "BOOLEAN"}
    return f'NULL::{types.get(column.type, "TIMESTAMPTZ")} AS "{column.name}"'
