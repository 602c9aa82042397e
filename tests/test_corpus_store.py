"""The corpus store: kept one drop at a time, it says what a store built from scratch says, and its TF-IDF is
the plain definition (every word scored)."""

from __future__ import annotations

import json
import math
import tempfile
from pathlib import Path

import pandas as pd
from hypothesis import given, settings
from hypothesis import strategies as st

from qualia_pipelines.core.corpus import CorpusStore, TranscriptFacts

KEYS = [f"meeting-{index}" for index in range(6)]
WORDS = ["acordo", "ação", "b", "cliente", "dado", "entrega", "fila", "gente", "hoje", "integração", "já", "kit"]
SPEAKERS = ["Ana", "Bia", "Caio"]

_sentiment = st.fixed_dictionaries(
    {
        "polarity": st.floats(-1, 1, allow_nan=False),
        "sentiment_label": st.sampled_from(["positive", "negative", "neutral"]),
        "statistics": st.fixed_dictionaries(
            {"share_positive": st.floats(0, 1), "share_negative": st.floats(0, 1), "segments": st.integers(1, 50)}
        ),
        "engine": st.sampled_from(["leia", "vader+textblob"]),
        "language": st.sampled_from(["pt", "en"]),
        "by_speaker": st.lists(
            st.fixed_dictionaries({"speaker": st.sampled_from(SPEAKERS), "polarity": st.floats(-1, 1)}),
            max_size=3,
            unique_by=lambda row: row["speaker"],
        ),
    }
)
_speaker = st.fixed_dictionaries(
    {
        "speaker": st.sampled_from(SPEAKERS),
        "utterances": st.integers(1, 9),
        "words": st.integers(1, 90),
        "talk_time_s": st.one_of(st.none(), st.floats(0, 600)),
        "share_of_words": st.floats(0, 1),
    }
)
_facts = st.builds(
    lambda key, counts, date, mood, speakers: TranscriptFacts(key, counts, date, mood, speakers),
    st.sampled_from(KEYS),
    st.one_of(st.none(), st.dictionaries(st.sampled_from(WORDS), st.integers(1, 30), max_size=12)),
    st.one_of(st.none(), st.sampled_from(["2026-11-03T14:00:00", "2026-11-20T09:30:00+00:00", "2026-10-01"])),
    st.one_of(st.none(), _sentiment),
    st.one_of(st.none(), st.lists(_speaker, max_size=3, unique_by=lambda row: row["speaker"])),
)
# A drop: transcripts taken in (new or changed) and keys removed.
_drops = st.lists(st.tuples(st.lists(_facts, max_size=4), st.lists(st.sampled_from(KEYS), max_size=2)), max_size=6)


@settings(max_examples=60, deadline=None)
@given(drops=_drops)
def test_a_store_kept_drop_by_drop_equals_one_built_from_scratch(drops: list) -> None:
    with tempfile.TemporaryDirectory() as folder:
        kept, scratch = CorpusStore(Path(folder) / "kept"), CorpusStore(Path(folder) / "scratch")
        corpus: dict[str, TranscriptFacts] = {}
        for number, (changed, removed) in enumerate(drops):
            changed = list({facts.key: facts for facts in changed}.values())
            removed = sorted(set(removed) - {facts.key for facts in changed})
            kept.apply(changed, removed, cursor=number)
            corpus.update({facts.key: facts for facts in changed})
            for key in removed:
                corpus.pop(key, None)
        scratch.apply(corpus.values())
        assert kept.keys() == scratch.keys() == set(corpus)
        tables = ("vocabulary", "distinctive_words", "sentiment_over_time", "participation", "speaker_trends")
        for table in (*tables, "word_trends"):
            pd.testing.assert_frame_equal(getattr(kept, table)(), getattr(scratch, table)(), check_dtype=False)
        plain = plain_tf_idf(corpus)  # the same words and ranks; values to the last rounded digit
        pd.testing.assert_frame_equal(kept.distinctive_words(), plain, check_dtype=False, check_exact=False, atol=2e-6)
        assert kept.state.cursor == (len(drops) - 1 if drops else None)
        batches = sum(kept.state.batches.values())
        assert batches <= 2 * sum(len(f.word_counts or {}) for f in corpus.values()) or len(kept.state.batches) < 2


def plain_tf_idf(corpus: dict[str, TranscriptFacts], top: int = 10) -> pd.DataFrame:
    """Every word of every transcript scored, as the definition says: tf = count / words, smoothed idf."""
    counted = {key: facts.word_counts for key, facts in corpus.items() if facts.word_counts is not None}
    documents = len(counted)
    frequency = {word: sum(word in counts for counts in counted.values()) for word in WORDS}
    rows = []
    for key in sorted(counted):
        counts = counted[key]
        total = sum(counts.values()) or 1
        scored = []
        for word, count in counts.items():
            idf = math.log((1 + documents) / (1 + frequency[word])) + 1
            scored.append((count / total * idf, word, count, idf))
        scored.sort(key=lambda item: (-item[0], item[1]))
        for rank, (tfidf, word, count, idf) in enumerate(scored[:top], start=1):
            rows.append((key, rank, word, count, round(count / total, 6), round(idf, 6), round(tfidf, 6)))
    return pd.DataFrame(rows, columns=["transcript", "rank", "word", "count", "tf", "idf", "tfidf"])


def test_the_store_is_one_set_of_files_readers_can_query_while_a_refresh_writes(tmp_path: Path) -> None:
    store = CorpusStore(tmp_path / "store")
    assert store.vocabulary().empty and store.distinctive_words().empty and store.keys() == set()
    store.apply([TranscriptFacts("a", {"cliente": 3, "prazo": 1}, "2026-11-03", None, [])], cursor=7)
    store.apply([TranscriptFacts("b", {"cliente": 1}, None, None, None)], cursor=9)
    store.apply([TranscriptFacts("a", {"prazo": 2}, None, None, None)], removed=["b"], cursor=12)
    assert store.vocabulary().to_dict("records") == [{"word": "prazo", "count": 2, "transcripts": 1}]
    files = sorted(path.relative_to(store.root).as_posix() for path in store.root.rglob("*.parquet"))
    generation = ["speakers-3.parquet", "transcripts-3.parquet", "vocabulary-3.parquet"]
    assert files == [*generation, "word_counts/batch-4.parquet"]  # 4 rows written, 1 live: compacted into one
    with store.connection() as db:  # what a notebook does: plain SQL over the current generation
        assert db.execute("SELECT transcript, word, count FROM word_counts").fetchall() == [("a", "prazo", 2)]
    assert store.state.cursor == 12


def test_trends_follow_speakers_and_words_week_by_week_in_utc(tmp_path: Path) -> None:
    def mood(**polarities: float) -> dict:
        return {"polarity": 0.1, "sentiment_label": "neutral", "statistics": {}, "engine": "leia",
                "by_speaker": [{"speaker": name, "polarity": value} for name, value in polarities.items()]}  # fmt: skip

    def said(name: str, share: float, turns: int, words: int) -> dict:
        return {"speaker": name, "utterances": turns, "words": words, "talk_time_s": None, "share_of_words": share}

    store = CorpusStore(tmp_path / "store")
    store.apply(
        [
            TranscriptFacts(
                "mon",
                {"cliente": 3, "prazo": 1},
                "2026-11-02T09:00:00+00:00",
                mood(Ana=0.5),
                [said("Ana", 0.75, 3, 30), said("Bia", 0.25, 1, 10)],
            ),
            # Sunday evening in São Paulo is Monday in UTC: the next week
            TranscriptFacts(
                "sun", {"cliente": 1, "fila": 3}, "2026-11-08T23:00:00-03:00", None, [said("Ana", 1, 2, 20)]
            ),
            TranscriptFacts("undated", {"cliente": 9}, None, None, [said("Caio", 1, 1, 9)]),
            TranscriptFacts("later", {"fila": 4, "integração": 1, "integracao": 2}, "2026-11-18", None, []),
        ]
    )
    weeks, meetings = store.word_trend("cliente")
    columns = ["week", "count", "meetings_using", "meetings", "words", "per_1000_words"]
    assert weeks[columns].astype(str).values.tolist() == [
        ["2026-11-02", "3", "1", "1", "4", "750.0"],
        ["2026-11-09", "1", "1", "1", "4", "250.0"],
        ["2026-11-16", "0", "0", "1", "7", "0.0"],  # a week without it: 0, not missing
    ]
    folded = store.word_trend("integracao")[0]  # accents ignored, as in search: both forms, once per meeting
    assert folded[["count", "meetings_using"]].values.tolist() == [[0, 0], [0, 0], [3, 1]]
    assert list(meetings["transcript"]) == ["sun", "mon"]  # newest first; the undated meeting is not on a timeline
    trends = store.speaker_trends()
    rows = trends[["speaker", "transcript", "week", "share_of_words", "utterances", "polarity"]].fillna("-")
    assert rows.astype(str).values.tolist() == [
        ["Ana", "mon", "2026-11-02", "0.75", "3", "0.5"],
        ["Bia", "mon", "2026-11-02", "0.25", "1", "-"],
        ["Ana", "sun", "2026-11-09", "1.0", "2", "-"],
    ]
    common = store.word_trends()
    assert sorted(set(common["word"])) == ["cliente", "fila", "integracao", "integração", "prazo"]
    assert len(common) == 15  # 5 words x 3 weeks
    assert common.loc[(common["word"] == "fila") & (common["week"].astype(str) == "2026-11-16"), "count"].item() == 4


def test_a_store_of_the_older_layout_is_read_and_marked_for_rebuilding(tmp_path: Path) -> None:
    store = CorpusStore(tmp_path / "store")
    store.apply([TranscriptFacts("a", {"cliente": 2}, "2026-11-03", None, [{"speaker": "Ana", "utterances": 1,
                 "words": 2, "talk_time_s": None, "share_of_words": 1.0}])])  # fmt: skip
    speakers = store.root / "speakers-1.parquet"
    pd.read_parquet(speakers).drop(columns="polarity").to_parquet(speakers)  # as layout 1 wrote it
    state = json.loads((store.root / "state.json").read_text())
    (store.root / "state.json").write_text(json.dumps({key: state[key] for key in ("generation", "cursor", "batches")}))
    assert store.outdated and store.speaker_trends()["polarity"].isna().all()  # readable meanwhile
    store.apply([TranscriptFacts("b", {"prazo": 1}, None, None, None)])
    assert not store.outdated and list(store.participation()["speaker"]) == ["Ana"]
