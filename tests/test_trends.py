"""Trends over time on the processed samples: one word from the CLI and the API, and the tables behind them."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from qualia_pipelines.api.app import create_app
from qualia_pipelines.cli import app
from qualia_pipelines.core.settings import Settings

runner = CliRunner()


@pytest.fixture
def data(processed: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("QUALIA_DATA_DIR", str(processed))
    return processed


def meetings_saying(data: Path, word: str) -> dict[str, int]:
    """From each transcript's own word_frequency record: how often it said ``word``."""
    found = {}
    for path in (data / "outputs" / "word_frequency").glob("*.json"):
        count = json.loads(path.read_text(encoding="utf-8"))["values"]["word_frequencies"].get(word)
        if count:
            found[path.stem] = count
    return found


def test_qualia_trend_counts_a_word_per_week_and_per_meeting_ignoring_accents(data: Path) -> None:
    result = runner.invoke(app, ["trend", "Integracao", "--json"])
    assert result.exit_code == 0, result.output
    trend = json.loads(result.stdout)
    said = meetings_saying(data, "integração")
    assert trend["word"] == "integracao" and said
    assert {row["transcript"]: row["count"] for row in trend["meetings"]} == said
    assert sum(week["count"] for week in trend["weeks"]) == sum(said.values())
    weeks = pd.read_parquet(data / "outputs" / "word_trends" / "all.parquet")
    assert [week["week"] for week in trend["weeks"]] == sorted({str(week) for week in weeks["week"]})
    table = runner.invoke(app, ["trend", "integração", "--meetings"])
    assert table.exit_code == 0 and "retro_pt.txt" in table.stdout
    assert "not one word" in runner.invoke(app, ["trend", "two words"]).stderr


def test_get_trends_answers_from_an_engine_with_pages_of_meetings(data: Path) -> None:
    with TestClient(create_app(Settings(data_dir=data))) as client:
        answer = client.get("/trends", params={"word": "clientes", "limit": 1})
        assert answer.status_code == 200
        trend = answer.json()
        assert [row["transcript"] for row in trend["meetings"]] == list(meetings_saying(data, "clientes"))
        assert trend["next_offset"] is None and all(len(week["week"]) == 10 for week in trend["weeks"])
        assert client.get("/trends", params={"word": "a b"}).json()["error"].startswith("word: ")
        assert client.get("/trends", params={"word": "x" * 101}).status_code == 422


def test_speaker_trends_hold_every_speaker_of_every_dated_meeting(data: Path) -> None:
    trends = pd.read_parquet(data / "outputs" / "speaker_trends" / "all.parquet")
    participation = pd.read_parquet(data / "outputs" / "speaker_participation" / "all.parquet")
    assert sorted(trends["speaker"].unique()) == sorted(participation["speaker"])
    mood = json.loads((data / "outputs" / "sentiment_analyzer" / "retro_pt.txt.json").read_text(encoding="utf-8"))
    expected = {row["speaker"]: row["polarity"] for row in mood["values"]["sentiment"]["by_speaker"]}
    retro = trends[trends["transcript"] == "retro_pt.txt"].set_index("speaker")["polarity"].to_dict()
    assert retro == expected
    page = data / "outputs" / "corpus_page" / "index.html"
    assert page.is_file() and (page.parent / "plotly.min.js").is_file()


def test_qualia_corpus_pages_through_a_table(data: Path) -> None:
    whole = json.loads(runner.invoke(app, ["corpus", "vocabulary", "--json", "--limit", "10000"]).stdout)
    pages = [
        json.loads(
            runner.invoke(app, ["corpus", "vocabulary", "--json", "--limit", "50", "--offset", str(start)]).stdout
        )
        for start in range(0, len(whole) + 50, 50)
    ]
    assert [row for page in pages for row in page] == whole and pages[-1] == []  # every row once, in order
