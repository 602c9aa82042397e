"""Search across transcripts: what researchers type finds what was said, and one transcript's update touches
only its own rows."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from qualia_pipelines.api.app import create_app
from qualia_pipelines.core.search import Meeting, SearchFilters, SearchIndex, SearchQueryError
from qualia_pipelines.core.settings import Settings
from qualia_pipelines.orchestration.corpus_assets import search_file

WEEKLY = Meeting(
    "weekly",
    "Weekly Sync (ACME).vtt",
    "2026-11-03T14:00:00+00:00",
    "pt",
    [
        ("Ana Souza", 5.0, "A integração com o cliente ficou pronta ontem."),
        ("Carlos Mendes", 65.0, "Sem problemas na entrega, mas a integracao precisa de testes."),
        ("Ana Souza", 130.0, "Problemas sem solução ainda: a fila de suporte."),
    ],
)
REVIEW = Meeting(
    "review",
    "review.docx",
    "2026-11-20T09:00:00",
    "en",
    [("Priya Raman", None, "The integration tests are green; no problems with the release.")],
)


@pytest.fixture
def index(tmp_path: Path) -> SearchIndex:
    index = SearchIndex(tmp_path / "search.sqlite")
    index.apply([WEEKLY, REVIEW], cursor=41)
    return index


def found(index: SearchIndex, query: str, *args: object, **kwargs: object) -> list[dict]:
    """The matches of a search of a small index, which are always ranked by relevance."""
    result = index.search(query, *args, **kwargs)
    assert result.order == "relevance"
    return result.matches


def texts(matches: list[dict]) -> list[str]:
    return [match["text"] for match in matches]


def test_words_phrases_and_prefixes_match_without_accents_or_case(index: SearchIndex) -> None:
    both = texts(found(index, "INTEGRACAO"))
    assert sorted(both) == sorted(WEEKLY.utterances[n][2] for n in (0, 1))  # "integração" and "integracao"
    assert len(found(index, "integra*")) == 3  # and "integration"
    assert texts(found(index, '"sem problemas"')) == [WEEKLY.utterances[1][2]]  # the phrase, not both words
    assert len(found(index, "sem problemas")) == 2  # both words, in any order
    [match] = found(index, "fila")
    assert match["file"] == "Weekly Sync (ACME).vtt" and match["speaker"] == "Ana Souza" and match["start"] == 130.0
    assert "[fila]" in match["context"] and match["date"].startswith("2026-11-03") and match["score"] > 0
    assert index.cursor == 41


def test_filters_and_pages(index: SearchIndex) -> None:
    assert texts(found(index, "integra*", SearchFilters(speaker="Priya Raman"))) == [REVIEW.utterances[0][2]]
    assert len(found(index, "integra*", SearchFilters(language="pt"))) == 2
    assert len(found(index, "integra*", SearchFilters(transcript="review"))) == 1
    assert len(found(index, "integra*", SearchFilters(since="2026-11-10"))) == 1
    assert len(found(index, "integra*", SearchFilters(until="2026-11-03"))) == 2  # the day itself included
    pages = [texts(found(index, "integra*", limit=2, offset=offset)) for offset in (0, 2, 4)]
    assert len(pages[0]) == 2 and len(pages[1]) == 1 and pages[2] == [] and not set(pages[0]) & set(pages[1])


def test_an_index_of_the_older_layout_is_marked_for_rebuilding(tmp_path: Path) -> None:
    index = SearchIndex(tmp_path / "search.sqlite")
    assert not index.outdated  # none yet
    index.apply([WEEKLY])
    assert not index.outdated
    with sqlite3.connect(index.path) as db:
        db.execute("DELETE FROM state WHERE name = 'layout'")  # as the first layout left it
    assert index.outdated
    index.reset()
    assert not index.path.exists() and not index.outdated and index.cursor is None


def test_a_changed_or_removed_transcript_leaves_nothing_behind(index: SearchIndex) -> None:
    changed = Meeting("weekly", "Weekly Sync (ACME).vtt", None, "pt", [("Ana Souza", 1.0, "Só a pauta nova.")])
    index.apply([changed], removed=["review"])
    assert found(index, "integra*") == [] and len(found(index, "pauta")) == 1 and index.keys() == {"weekly"}
    index.apply([REVIEW])
    assert texts(found(index, "integration")) == [REVIEW.utterances[0][2]]  # rows after the freed range


def test_a_search_too_broad_to_rank_in_time_answers_newest_first(
    index: SearchIndex, monkeypatch: pytest.MonkeyPatch
) -> None:
    said = [("Ana Souza", float(n), f"A integração número {n}") for n in range(3000)]
    index.apply([Meeting("bulk", "bulk.txt", None, "pt", said)])
    monkeypatch.setattr("qualia_pipelines.core.search.RANKED_MATCHES", 100)  # too many to rank: not even tried
    counted = index.search("integra*", limit=2)
    assert counted.order == "newest" and texts(counted.matches) == [said[-1][2], said[-2][2]]
    assert {match["score"] for match in counted.matches} == {None}  # no BM25: it would score every match
    monkeypatch.undo()
    monkeypatch.setattr("qualia_pipelines.core.search.RANKING_SECONDS", 0.0)  # few enough, but out of time
    result = index.search("integra*", limit=2)
    assert result.order == "newest" and texts(result.matches) == [said[-1][2], said[-2][2]]
    assert index.search("integra*", limit=2, order="newest").matches == result.matches  # what a next page asks
    monkeypatch.setattr("qualia_pipelines.core.search.MAX_SECONDS", 0.0)
    with pytest.raises(SearchQueryError, match="takes too long"):  # no page of matches near the end either
        index.search("integra*", SearchFilters(speaker="Nobody"))


@pytest.mark.parametrize("query", ['"unclosed', "AND", "x" * 201, "  ", "NEAR(", "col:x", "da*", "*"])
def test_a_query_the_index_cannot_read_is_a_clear_error(index: SearchIndex, query: str) -> None:
    with pytest.raises(SearchQueryError, match=r"^q: "):
        index.search(query)


def test_the_api_searches_the_index_the_pipeline_keeps(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path / "data")
    with TestClient(create_app(settings)) as client:
        assert client.get("/search", params={"q": "x"}).status_code == 404  # no refresh yet
        SearchIndex(search_file(settings.outputs_dir)).apply([WEEKLY, REVIEW])
        page = client.get("/search", params={"q": "integracao", "limit": 1}).json()
        assert len(page["matches"]) == 1 and page["next_offset"] == 1 and page["order"] == "relevance"
        assert page["matches"][0]["file"] == "Weekly Sync (ACME).vtt" and "[" in page["matches"][0]["context"]
        english = client.get("/search", params={"q": "integra*", "language": "en", "since": "2026-11-10"}).json()
        assert [m["transcript"] for m in english["matches"]] == ["review"] and english["next_offset"] is None
        bad = client.get("/search", params={"q": '"unclosed'})
        assert bad.status_code == 400 and bad.json()["error"].startswith("q: ")
        assert client.get("/search", params={"q": "x", "since": "yesterday"}).status_code == 422
