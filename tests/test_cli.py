"""The `qualia` command line, through Typer's runner and as a real process."""

from __future__ import annotations

import io
import json
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from qualia_pipelines.cli import app
from qualia_pipelines.core.export import parquet_bytes
from tests.conftest import digest

runner = CliRunner()


def qualia(*args: str, input: str | None = None):
    return runner.invoke(app, [str(a) for a in args], input=input)


def test_list_and_inspect_come_from_plugin_metadata() -> None:
    listed = json.loads(qualia("list", "--json").stdout)
    ids = {plugin["id"] for plugin in listed["plugins"]}
    assert ids == {
        "teams_cleaner",
        "word_frequency",
        "sentiment_analyzer",
        "wordcloud_viz",
        "frequency_chart",
        "sentiment_viz",
    }
    inspected = json.loads(qualia("inspect", "wordcloud_viz", "--json").stdout)
    assert inspected["runs_after"] == ["teams_cleaner", "word_frequency"]
    assert inspected["parameters"]["properties"]["format"]["enum"] == ["png", "svg", "html"]
    shown = qualia("inspect", "word_frequency")
    assert shown.exit_code == 0 and "min_word_length" in shown.stdout and "runs after: teams_cleaner" in shown.stdout


def test_analyze_json_gives_values_and_provenance(samples: dict[str, Path]) -> None:
    result = qualia("analyze", samples["vtt_pt"], "-p", "word_frequency", "-P", "max_words=5", "--json")
    assert result.exit_code == 0, result.stderr
    record = json.loads(result.stdout)
    assert record["values"]["top_words"][0]["word"] == "clientes" and len(record["values"]["top_words"]) == 5
    assert [step["plugin"] for step in record["provenance"]] == ["teams_cleaner", "word_frequency"]
    assert record["parameters"]["max_words"] == 5
    upstream = qualia(
        "analyze", samples["txt_pt"], "-p", "word_frequency", "-P", "teams_cleaner.min_utterance_words=9", "--json"
    )
    assert json.loads(upstream.stdout)["provenance"][0]["parameters"]["min_utterance_words"] == 9


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["analyze", "{vtt}", "-p", "nope"], "error: unknown plugin 'nope'"),
        (["analyze", "{vtt}", "-p", "word_frequency", "-P", "max_words=-3"], "parameter 'max_words': '-3'"),
        (["analyze", "{vtt}", "-p", "word_frequency", "-P", "colour=red"], "has no parameter 'colour'"),
        (["analyze", "{vtt}", "-p", "word_frequency", "-P", "novalue"], "expected name=value"),
        (["analyze", "missing.vtt", "-p", "word_frequency"], "error: missing.vtt: file not found"),
        (["analyze", "{bad}", "-p", "word_frequency"], "notes.xyz: unsupported file type .xyz"),
        (["visualize", "{vtt}", "-p", "word_frequency", "-o", "x.png"], "is not a visualizer"),
    ],
)
def test_errors_are_one_clear_line_and_exit_non_zero(
    samples: dict[str, Path], tmp_path: Path, args: list[str], message: str
) -> None:
    bad = tmp_path / "notes.xyz"
    bad.write_text("hello")
    result = qualia(*[a.format(vtt=samples["vtt_pt"], bad=bad) for a in args])
    assert result.exit_code == 1
    assert message in result.stderr
    assert result.stderr.count("\n") == 1 and "Traceback" not in result.stderr


def test_process_saves_the_cleaned_text(samples: dict[str, Path], tmp_path: Path) -> None:
    out = tmp_path / "clean.txt"
    result = qualia(
        "process", samples["txt_pt"], "-p", "teams_cleaner", "--save-as", out, "-P", "remove_timestamps=true"
    )
    assert result.exit_code == 0, result.stderr
    text = out.read_text(encoding="utf-8")
    assert text.startswith("Marina Lopes: Oi gente") and "Sistema" not in text


def test_visualize_writes_the_file_and_its_plotly_companion(samples: dict[str, Path], tmp_path: Path) -> None:
    chart = tmp_path / "charts" / "freq.html"
    assert qualia("visualize", samples["vtt_en"], "-p", "frequency_chart", "-o", chart).exit_code == 0
    assert (chart.parent / "plotly.min.js").stat().st_size > 1_000_000
    cloud = tmp_path / "cloud.svg"
    result = qualia("visualize", samples["vtt_en"], "-p", "wordcloud_viz", "-o", cloud)
    assert result.exit_code == 0, result.stderr
    assert cloud.read_text().startswith("<svg")


def test_pipeline_runs_steps_in_order(samples: dict[str, Path], tmp_path: Path) -> None:
    config = tmp_path / "pipeline.yaml"
    config.write_text(
        "steps:\n  - plugin: teams_cleaner\n    parameters: {min_utterance_words: 3}\n"
        "  - plugin: word_frequency\n    parameters: {max_words: 10}\n"
        "  - plugin: wordcloud_viz\n    parameters: {format: html}\n"
    )
    result = qualia("pipeline", samples["vtt_pt"], "-c", config, "--out", tmp_path / "out", "--json")
    assert result.exit_code == 0, result.stderr
    outputs = json.loads(result.stdout)["outputs"]
    assert [Path(p).parent.name for p in outputs] == ["teams_cleaner", "word_frequency", "wordcloud_viz"]
    words = json.loads(Path(outputs[1]).read_text())
    assert len(words["values"]["top_words"]) == 10 and words["provenance"][0]["parameters"]["min_utterance_words"] == 3
    config.write_text("steps:\n  - plugin: word_frequency\n    parameters: {max_words: zero}\n")
    failed = qualia("pipeline", samples["vtt_pt"], "-c", config)
    assert failed.exit_code == 1 and "parameter 'max_words': 'zero'" in failed.stderr


def test_batch_carries_on_past_failures_and_lists_them(samples: dict[str, Path], tmp_path: Path) -> None:
    inbox = samples["vtt_pt"].parent
    (inbox / "empty.vtt").write_bytes(b"")
    (inbox / "photo.vtt").write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(100))
    before = {p.name: digest(p) for p in inbox.iterdir()}
    out = tmp_path / "out"
    result = qualia(
        "batch", inbox, "-p", "teams_cleaner", "-p", "word_frequency", "--out", out, "--workers", "2", "--json"
    )
    assert result.exit_code == 1
    reports = {Path(r["path"]).name: r for r in json.loads(result.stdout)}
    failure = {"plugin": "(reading the file)", "error": f"{inbox / 'empty.vtt'}: the file is empty"}
    assert reports["empty.vtt"]["failures"] == [failure]
    assert reports["empty.vtt"]["error"] == f"{inbox / 'empty.vtt'} · (reading the file): the file is empty"
    assert "PNG image" in reports["photo.vtt"]["error"] and reports["photo.vtt"]["status"] == "failed"
    assert reports["weekly_sync_pt.vtt"]["summary"]["speakers"] == 3
    assert sorted(p.name for p in (out / "word_frequency").iterdir()) == [
        "customer_interview_en.vtt.json",
        "planning_en.docx.json",
        "retro_pt.txt.json",
        "weekly_sync_pt.vtt.json",
    ]
    assert before == {p.name: digest(p) for p in inbox.iterdir()}
    summary = qualia("batch", inbox, "-p", "word_frequency", "--out", out, "--workers", "1")
    assert "4 of 6 files processed" in summary.stdout
    assert f"failed {inbox / 'empty.vtt'} · (reading the file): the file is empty" in summary.stdout


def test_batch_names_file_and_plugin_skips_empty_visuals_and_never_cuts_names(tmp_path: Path) -> None:
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    long_name = "webvtt-customer-interview-with-a-very-long-name-2026-11-30-final-version"
    (inbox / f"{long_name}-a.txt").write_text("Ana: the and of to a in is it\nBia: it is the and of to a in\n")
    french = "Marie: Bonjour à tous, je vous remercie d'être venus pour cette réunion sur le projet et le budget.\n"
    (inbox / f"{long_name}-b.txt").write_text(french * 3)
    out = tmp_path / "out"
    result = qualia("batch", inbox, "--out", out, "--workers", "1")
    assert result.exit_code == 0, result.stdout + result.stderr
    lines = result.stdout.splitlines()
    assert any(f"{long_name}-a.txt" in line for line in lines) and any(f"{long_name}-b.txt" in line for line in lines)
    assert "2 of 2 files processed" in result.stdout
    skipped_a = f"skipped {inbox / f'{long_name}-a.txt'} · frequency_chart: no words to chart"
    skipped_b = f"skipped {inbox / f'{long_name}-b.txt'} · sentiment_viz: sentiment not available for French (fr)"
    assert skipped_a in result.stdout and skipped_b in result.stdout
    reports = json.loads(qualia("batch", inbox, "--out", out, "--workers", "1", "--json").stdout)
    assert {row["plugin"] for row in reports[0]["skipped"]} == {"frequency_chart", "wordcloud_viz"}
    assert reports[1]["summary"]["language"] == "fr" and reports[1]["summary"]["sentiment"] == "not available (fr)"
    listed = qualia("list")
    assert "sentiment_analyzer" in listed.stdout and "wordcloud_viz" in listed.stdout and "…" not in listed.stdout


def test_watch_processes_settled_files_once(samples: dict[str, Path], tmp_path: Path) -> None:
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    (inbox / "meeting.txt").write_bytes(samples["txt_pt"].read_bytes())
    out = tmp_path / "out"
    result = qualia("watch", inbox, "-p", "word_frequency", "--out", out, "--interval", "0.05", "--cycles", "3")
    assert result.exit_code == 0, result.stderr
    assert result.stderr.count("processed") == 1
    assert json.loads((out / "word_frequency" / "meeting.txt.json").read_text())["values"]["language"] == "pt"


def test_export_to_csv_parquet_and_json(samples: dict[str, Path], tmp_path: Path) -> None:
    saved = tmp_path / "freq.json"
    assert qualia("analyze", samples["vtt_pt"], "-p", "word_frequency", "--save", saved).exit_code == 0
    assert qualia("export", saved, "--format", "csv", "-o", tmp_path / "top.csv").exit_code == 0
    table = pd.read_csv(tmp_path / "top.csv")
    assert list(table.columns) == ["word", "count", "share"] and table.iloc[0]["word"] == "clientes"
    assert (
        qualia("export", saved, "-f", "parquet", "-t", "word_frequencies", "-o", tmp_path / "all.parquet").exit_code
        == 0
    )
    assert pd.read_parquet(tmp_path / "all.parquet").set_index("key").loc["clientes", "value"] == 3
    missing = qualia("export", saved, "-t", "nothing")
    assert (
        missing.exit_code == 1
        and "no table 'nothing' (available: top_words, removed_stop_words, word_frequencies" in missing.stderr
    )


def test_parquet_tables_keep_every_column_and_refuse_mixed_types_clearly(tmp_path: Path) -> None:
    table = pd.read_parquet(io.BytesIO(parquet_bytes([{"word": "a"}, {"word": "b", "count": 2}])))
    assert list(table.columns) == ["word", "count"] and pd.isna(table.loc[0, "count"]) and table.loc[1, "count"] == 2
    mixed = tmp_path / "mixed.json"
    mixed.write_text(json.dumps({"values": {"rows": [{"value": 1}, {"value": "one"}]}}), encoding="utf-8")
    refused = qualia("export", mixed, "-f", "parquet", "-o", tmp_path / "mixed.parquet")
    assert refused.exit_code == 1 and f"{tmp_path / 'mixed.parquet'}: cannot write" in refused.stderr
    assert not (tmp_path / "mixed.parquet").exists()


def test_config_new_validate_show_and_init(tmp_path: Path) -> None:
    assert qualia("init", tmp_path / "project").exit_code == 0
    config = tmp_path / "project" / "qualia.yaml"
    assert (tmp_path / "project" / "data" / "inbox").is_dir() and config.is_file()
    assert qualia("config", "validate", config).exit_code == 0
    shown = qualia("config", "show", "--settings", config)
    assert f"inbox: {tmp_path / 'project' / 'data' / 'inbox'}" in shown.stdout
    assert qualia("config", "new", config).exit_code == 1
    config.write_text("parameters:\n  word_frequency:\n    max_words: lots\n")
    bad = qualia("config", "validate", config)
    assert bad.exit_code == 1 and "parameter 'max_words': 'lots'" in bad.stderr
    config.write_text("workers: 0\n")
    assert "field 'workers'" in qualia("config", "validate", config).stderr


@pytest.mark.parametrize("kind", ["analyzer", "document", "visualizer"])
def test_create_scaffolds_a_plugin_whose_test_passes(tmp_path: Path, kind: str) -> None:
    name = f"my_{kind}"
    assert qualia("create", name, "--kind", kind, "--dir", tmp_path / "plugins").exit_code == 0
    env_settings = tmp_path / "qualia.yaml"
    env_settings.write_text("plugin_dirs: [plugins]\n")
    ids = {p["id"] for p in json.loads(qualia("list", "--json", "--settings", env_settings).stdout)["plugins"]}
    assert name in ids
    test_file = tmp_path / "plugins" / name / f"test_{name}.py"
    run = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(test_file)],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=120,
    )
    assert run.returncode == 0, run.stdout + run.stderr


def test_menu_runs_commands_interactively(samples: dict[str, Path]) -> None:
    result = qualia("menu", input=f"3\n{samples['vtt_en']}\nword_frequency\nq\n")
    assert result.exit_code == 0, result.stderr
    assert "vocabulary_size" in result.stderr


def test_qualia_is_an_installed_command(samples: dict[str, Path]) -> None:
    command = Path(sys.executable).parent / "qualia"  # the console script installed beside this interpreter
    run = subprocess.run(
        [str(command), "analyze", str(samples["vtt_en"]), "-p", "sentiment_analyzer", "--json"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert run.returncode == 0, run.stderr
    assert json.loads(run.stdout)["values"]["sentiment"]["engine"] == "vader+textblob"
