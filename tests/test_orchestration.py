"""Dagster: partitions, plugin assets, IO manager, inbox sensor and circuit breaker on a real instance."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import textwrap
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import dagster as dg
import pandas as pd
import pytest
from dagster._core.definitions.data_version import CachingStaleStatusResolver, StaleStatus
from dagster._core.loader import LoadingContextForTest
from qualia_plugins.sentiment_analyzer import plugin as sentiment_plugin

from qualia_pipelines import __version__
from qualia_pipelines.core.alerts import AlertError, signature
from qualia_pipelines.core.figures import plotly_js_path
from qualia_pipelines.core.inbox import PENDING_LIMIT, InboxScan, Observation
from qualia_pipelines.core.settings import Settings
from qualia_pipelines.definitions import definitions_for
from qualia_pipelines.orchestration.assets import inbox_file, plugin_assets, plugin_breaker, transcript
from qualia_pipelines.orchestration.checks import corpus_check_result, report_check_evaluations
from qualia_pipelines.orchestration.instance import INSTANCE_CLASS
from qualia_pipelines.orchestration.jobs import process_transcripts
from qualia_pipelines.orchestration.lineage import record_version
from qualia_pipelines.orchestration.partitions import (
    INBOX_FILE_ASSET,
    TRANSCRIPTS,
    contiguous_ranges,
    inbox_files,
    inbox_paths,
)
from qualia_pipelines.orchestration.resources import AlertsResource, QualiaIOManager, QualiaResource, registry_for
from qualia_pipelines.orchestration.sensors import (
    circuit_breaker_sensor,
    corpus_sensor,
    inbox_sensor,
    run_failure_alert_sensor,
)
from tests.conftest import SAMPLES, digest, sensor_tick
from tests.receiver import Received, receiver

RunStatus = dg.DagsterRunStatus
RANGE_START = "dagster/asset_partition_range_start"
RANGE_END = "dagster/asset_partition_range_end"


@pytest.fixture
def instance(tmp_path: Path) -> Iterator[dg.DagsterInstance]:
    home = tmp_path / "dagster_home"
    home.mkdir()
    with dg.instance_for_test(temp_dir=str(home), overrides={"instance_class": INSTANCE_CLASS}) as test_instance:
        yield test_instance


@pytest.fixture
def inbox(tmp_path: Path) -> Path:
    folder = tmp_path / "data" / "inbox"
    folder.mkdir(parents=True)
    for path in SAMPLES.values():
        shutil.copy(path, folder / path.name)
    return folder


def resources(inbox: Path, plugin_dirs: tuple[str, ...] = (), **breaker: float) -> dict[str, object]:
    return {
        "qualia": QualiaResource(
            inbox=str(inbox), max_bytes=50 * 1024 * 1024, plugin_dirs=list(plugin_dirs), **breaker
        ),
        "io_manager": QualiaIOManager(base_dir=str(inbox.parent / "outputs")),
    }


def materialize(
    instance: dg.DagsterInstance, inbox: Path, key: str, plugin_dirs: tuple[str, ...] = (), **breaker: float
) -> dg.ExecuteInProcessResult:
    assets = [inbox_file, transcript, *plugin_assets(registry_for(plugin_dirs))]
    return dg.materialize(
        assets,
        partition_key=key,
        instance=instance,
        resources=resources(inbox, plugin_dirs, **breaker),
        raise_on_error=False,
    )


def test_materializing_a_partition_runs_every_plugin_and_writes_outputs(
    instance: dg.DagsterInstance, inbox: Path
) -> None:
    instance.add_dynamic_partitions(TRANSCRIPTS.name, ["weekly_sync_pt.vtt"])
    before = digest(inbox / "weekly_sync_pt.vtt")
    result = materialize(instance, inbox, "weekly_sync_pt.vtt")
    assert result.success
    outputs = inbox.parent / "outputs"
    words = json.loads((outputs / "word_frequency" / "weekly_sync_pt.vtt.json").read_text())["values"]
    assert words["top_words"][0] == {"word": "clientes", "count": 3, "share": pytest.approx(3 / 112, abs=1e-5)}
    top = pd.read_parquet(outputs / "word_frequency" / "tables" / "weekly_sync_pt.vtt.top_words.parquet")
    assert top.to_dict("records") == words["top_words"]
    tables = outputs / "teams_cleaner" / "tables"
    segments = pd.read_parquet(tables / "weekly_sync_pt.vtt.cleaned_document.segments.parquet")
    assert segments["speaker"].nunique() >= 2 and len(segments) > 10
    record = json.loads((outputs / "sentiment_analyzer" / "weekly_sync_pt.vtt.json").read_text())
    assert [step["plugin"] for step in record["provenance"]] == ["teams_cleaner", "sentiment_analyzer"]
    assert record["content_hash"] == digest(inbox / "weekly_sync_pt.vtt")
    assert record["version"] == sentiment_plugin.version
    sentiment = record["values"]["sentiment"]
    assert sentiment["engine"] == "leia"
    assert (outputs / "wordcloud_viz" / "weekly_sync_pt.vtt.png").read_bytes().startswith(b"\x89PNG")
    assert (outputs / "frequency_chart" / "plotly.min.js").exists()
    event = instance.get_latest_materialization_event(dg.AssetKey("sentiment_analyzer"))
    metadata = event.asset_materialization.metadata
    assert metadata["label"].value == sentiment["sentiment_label"] and metadata["engine"].value == "leia"
    cleaner = instance.get_latest_materialization_event(dg.AssetKey("teams_cleaner")).asset_materialization.metadata
    assert "Carlos Mendes" in cleaner["speakers"].value and cleaner["quality_score"].value == 100
    assert (
        "| clientes | 3 |"
        in instance.get_latest_materialization_event(dg.AssetKey("word_frequency"))
        .asset_materialization.metadata["top_words"]
        .value
    )
    assert digest(inbox / "weekly_sync_pt.vtt") == before


def test_the_same_numbers_as_the_cli_engine(instance: dg.DagsterInstance, inbox: Path, engine) -> None:
    instance.add_dynamic_partitions(TRANSCRIPTS.name, ["retro_pt.txt"])
    assert materialize(instance, inbox, "retro_pt.txt").success
    stored = json.loads((inbox.parent / "outputs" / "sentiment_analyzer" / "retro_pt.txt.json").read_text())
    direct = engine.run_file("sentiment_analyzer", inbox / "retro_pt.txt").values["sentiment"]
    assert stored["values"]["sentiment"]["polarity"] == direct["polarity"]
    assert stored["values"]["sentiment"]["segment_sentiments"] == json.loads(json.dumps(direct["segment_sentiments"]))


def test_an_unreadable_file_fails_only_its_transcript_with_a_clear_message(
    instance: dg.DagsterInstance, inbox: Path
) -> None:
    (inbox / "photo.vtt").write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(64))
    instance.add_dynamic_partitions(TRANSCRIPTS.name, ["photo.vtt", "retro_pt.txt"])
    failed = materialize(instance, inbox, "photo.vtt")
    assert not failed.success
    failure = next(e for e in failed.all_events if e.event_type_value == "STEP_FAILURE")
    assert "photo.vtt: this is a PNG image, not a transcript" in str(failure.event_specific_data.error)
    assert materialize(instance, inbox, "retro_pt.txt").success


def test_a_french_meeting_of_stop_words_skips_its_visuals_and_succeeds(
    instance: dg.DagsterInstance, inbox: Path
) -> None:
    (inbox / "salut.txt").write_text("Marie: Je ne le suis pas et vous ne les avez pas, nous en avons.\n" * 3)
    instance.add_dynamic_partitions(TRANSCRIPTS.name, ["salut.txt"])
    result = materialize(instance, inbox, "salut.txt")
    assert result.success  # nothing to draw and no sentiment engine for French: skipped, not failed
    outputs = inbox.parent / "outputs"
    sentiment = json.loads((outputs / "sentiment_analyzer" / "salut.txt.json").read_text())["values"]["sentiment"]
    assert sentiment["available"] is False and sentiment["language"] == "fr"
    assert not list(outputs.glob("frequency_chart/salut.txt.*")) and not list(outputs.glob("sentiment_viz/salut.txt.*"))
    skipped = {
        event.asset_key.to_user_string(): str(event.materialization.metadata["skipped"].value)
        for event in result.get_asset_materialization_events()
        if "skipped" in event.materialization.metadata
    }
    assert "no words to chart" in skipped["frequency_chart"] and "French (fr)" in skipped["sentiment_viz"]


def test_a_range_run_processes_a_whole_drop_in_one_run(instance: dg.DagsterInstance, inbox: Path) -> None:
    keys = sorted(path.name for path in inbox.iterdir())
    instance.add_dynamic_partitions(TRANSCRIPTS.name, keys)
    definitions = dg.Definitions(
        assets=[inbox_file, transcript, *plugin_assets(registry_for(()))],
        jobs=[process_transcripts],
        resources=resources(inbox),
    )
    result = definitions.resolve_job_def("process_transcripts").execute_in_process(
        instance=instance, tags={RANGE_START: keys[0], RANGE_END: keys[-1]}
    )
    assert result.success
    assert instance.get_materialized_partitions(dg.AssetKey("sentiment_viz")) == set(keys)
    outputs = inbox.parent / "outputs" / "word_frequency"
    words = {key: json.loads((outputs / f"{key}.json").read_text())["values"] for key in keys}
    assert words["weekly_sync_pt.vtt"]["top_words"][0]["word"] == "clientes"
    assert words["planning_en.docx"]["language"] == "en"


def test_a_drop_is_split_into_a_small_first_range_then_full_batches_of_neighbours() -> None:
    ordered = [f"m{index:02d}" for index in range(20)]
    wanted = set(ordered) - {"m12"}  # m12 was processed before: ranges do not span it
    assert contiguous_ranges(ordered, wanted, max_size=5, first_size=2) == [
        ("m00", "m01"),
        ("m02", "m06"),
        ("m07", "m11"),
        ("m13", "m17"),
        ("m18", "m19"),
    ]
    assert contiguous_ranges(ordered, {"m03"}, max_size=5) == [("m03", "m03")]


def test_every_asset_carries_the_settings_owners_and_tags_and_links_its_code() -> None:
    settings = Settings(asset_owners="team:ux_research, ana@lab.example", asset_tags={"project": "interviews"})
    specs = {spec.key.to_user_string(): spec for spec in definitions_for(settings).resolve_all_asset_specs()}
    for spec in specs.values():
        assert spec.owners == ["team:ux_research", "ana@lab.example"] and spec.tags["project"] == "interviews"
    for name in ("word_frequency", "sentiment_analyzer", "transcript", "corpus_vocabulary", "report"):
        references = specs[name].metadata["dagster/code_references"].code_references
        assert references and all(Path(reference.file_path).is_file() for reference in references)
    plugin_file = Path(specs["sentiment_analyzer"].metadata["dagster/code_references"].code_references[0].file_path)
    assert plugin_file == Path(sentiment_plugin.run.__code__.co_filename)  # the plugin's own source, not the adapter
    words, store = specs["word_frequency"].code_version, specs["corpus_store"].code_version
    assert store.startswith(f"{__version__}+") and store.endswith(f"+word_frequency@{words}")  # its inputs' too
    assert specs["distinctive_words"].code_version == f"{__version__}+corpus_store@{store}"
    assert f"+sentiment_analyzer@{sentiment_plugin.version}+" in specs["report"].code_version
    with pytest.raises(ValueError, match="owner 'research' is neither an e-mail address nor team:<name>"):
        Settings(asset_owners=["research"])


def test_corpus_assets_and_reports(instance: dg.DagsterInstance, inbox: Path) -> None:
    keys = sorted(path.name for path in inbox.iterdir())
    instance.add_dynamic_partitions(TRANSCRIPTS.name, keys)
    definitions = definitions_for(Settings(data_dir=inbox.parent))  # the real definitions, as `qualia run` uses
    process = definitions.resolve_job_def("process_transcripts")
    assert process.execute_in_process(instance=instance, tags={RANGE_START: keys[0], RANGE_END: keys[-1]}).success
    assert definitions.resolve_job_def("refresh_corpus").execute_in_process(instance=instance).success
    outputs = inbox.parent / "outputs"
    [vocabulary_event] = instance.fetch_materializations(dg.AssetKey("corpus_vocabulary"), limit=1).records
    table = vocabulary_event.asset_materialization.metadata  # Dagster's standard table metadata
    assert [c.name for c in table["dagster/column_schema"].value.columns][:2] == ["word", "count"]
    assert table["dagster/row_count"].value == len(pd.read_parquet(outputs / "corpus_vocabulary" / "all.parquet"))
    kinds = {spec.key.to_user_string(): spec.kinds for spec in definitions.resolve_all_asset_specs()}
    assert kinds["word_frequency"] == {"json", "parquet"} and kinds["wordcloud_viz"] == {"png"}
    for key in keys:  # one range run, and each partition has metadata of its own
        assets = ("word_frequency", "transcript", "sentiment_analyzer")
        words, parsed, mood = (partition_metadata(instance, asset, key) for asset in assets)
        stored = json.loads(Path(words["path"].value).read_text(encoding="utf-8"))["values"]
        assert words["path"].value == str((outputs / "word_frequency" / f"{key}.json").resolve())
        assert stored["top_words"][0]["word"] in words["top_words"].value and "transcripts" not in words
        assert parsed["file_name"].value == key and parsed["file"].value == str((inbox / key).resolve())
        assert parsed["content_hash"].value == digest(inbox / key) and parsed["language"].value in ("pt", "en")
        assert mood["label"].value in ("positive", "negative", "neutral")
    vocabulary = pd.read_parquet(outputs / "corpus_vocabulary" / "all.parquet").set_index("word")
    assert vocabulary.loc["clientes", "count"] == 3 and vocabulary.loc["charts", "transcripts"] == 2
    distinctive = pd.read_parquet(outputs / "distinctive_words" / "all.parquet")
    assert set(distinctive["transcript"]) == set(keys) and distinctive["rank"].max() == 10
    top = distinctive[(distinctive.transcript == "weekly_sync_pt.vtt") & (distinctive["rank"] == 1)].iloc[0]
    assert top["word"] == "clientes"
    over_time = pd.read_parquet(outputs / "sentiment_over_time" / "all.parquet")
    assert len(over_time) == 4 and over_time.iloc[0]["transcript"] == "planning_en.docx"  # dated 2026-11-03
    assert set(over_time["engine"]) == {"leia", "vader+textblob"}
    people = pd.read_parquet(outputs / "speaker_participation" / "all.parquet").set_index("speaker")
    assert people.loc["Priya Raman", "meetings"] == 1 and people.loc["Sam Okafor", "words"] > 0
    page = (outputs / "report" / "weekly_sync_pt.vtt.html").read_text(encoding="utf-8")
    assert "Carlos Mendes" in page and "clientes" in page and "data:image/png;base64," in page
    assert digest(inbox / "weekly_sync_pt.vtt") in page  # provenance: the input hash
    assert "sentiment_analyzer" in page and "polarity_threshold" in page
    scripts = re.findall(r"<script[^>]*\bsrc=\"([^\"]+)\"", page)
    assert scripts == ["plotly.min.js"] and "<link " not in page  # offline: only the shared plotly.js beside it
    assert "http://" not in page.replace("http://www.w3.org", "") and "https://" not in page
    shared = outputs / "report" / "plotly.min.js"
    assert shared.read_bytes() == plotly_js_path().read_bytes() and len(page) < 300_000  # not 4.8 MB of it per page
    assert rendered_dom(outputs / "report" / "weekly_sync_pt.vtt.html").count('class="main-svg"') >= 4
    for plugin_id, name in (("teams_cleaner", "transcript_quality"), ("word_frequency", "output_sanity")):
        check_key = dg.AssetCheckKey(dg.AssetKey(plugin_id), name)
        found = instance.event_log_storage.get_asset_check_partition_info([check_key], partition_keys=keys)
        assert sorted(info.partition_key for info in found) == keys  # one result per transcript of the range run
        assert all(info.latest_execution_status.value in ("SUCCEEDED", "FAILED") for info in found)
        if name == "output_sanity":
            assert {info.latest_execution_status.value for info in found} == {"SUCCEEDED"}
    checks = {"corpus_vocabulary", "distinctive_words", "sentiment_over_time", "speaker_participation",
              "speaker_trends", "word_trends"}  # fmt: skip
    report_checks = instance.event_log_storage.get_asset_check_partition_info(
        [dg.AssetCheckKey(dg.AssetKey("report"), "report_sanity")], partition_keys=keys
    )
    assert sorted(info.partition_key for info in report_checks) == keys
    assert {info.latest_execution_status.value for info in report_checks} == {"SUCCEEDED"}
    for asset, name in ((asset, "complete_and_defined") for asset in checks):
        evaluation = instance.get_latest_asset_check_evaluation_record(dg.AssetCheckKey(dg.AssetKey(asset), name))
        assert evaluation is not None and evaluation.status.value == "SUCCEEDED", (asset, name, evaluation)

    trends = outputs / "corpus_page" / "index.html"  # the corpus over time, offline, on its own plotly.js
    html = trends.read_text(encoding="utf-8")
    assert re.findall(r"<script[^>]*\bsrc=\"([^\"]+)\"", html) == ["plotly.min.js"] and "https://" not in html
    assert (trends.parent / "plotly.min.js").read_bytes() == plotly_js_path().read_bytes() and len(html) < 300_000
    talker = pd.read_parquet(outputs / "speaker_participation" / "all.parquet")["speaker"].iloc[0]
    assert rendered_dom(trends).count('class="main-svg"') >= 5 and talker in html

    # A deployment upgraded from before the corpus store and search index has records but neither: the next
    # refresh builds both from the records it finds, and the tables come out the same.
    tables = {name: pd.read_parquet(outputs / name / "all.parquet") for name in checks}
    shutil.rmtree(outputs / "corpus_store")
    shutil.rmtree(outputs / "search_index")
    assert definitions.resolve_job_def("refresh_corpus").execute_in_process(instance=instance).success
    for name, table in tables.items():
        pd.testing.assert_frame_equal(pd.read_parquet(outputs / name / "all.parquet"), table)
    assert (outputs / "search_index" / "search.sqlite").is_file()


def test_a_changed_file_marks_exactly_its_own_transcript_stale_after_a_range_run(
    instance: dg.DagsterInstance, inbox: Path
) -> None:
    keys = sorted(path.name for path in inbox.iterdir())
    instance.add_dynamic_partitions(TRANSCRIPTS.name, keys)
    for key in keys:
        observe(instance, inbox / key)
    definitions = definitions_for(Settings(data_dir=inbox.parent))
    process = definitions.resolve_job_def("process_transcripts")
    assert process.execute_in_process(instance=instance, tags={RANGE_START: keys[0], RANGE_END: keys[-1]}).success
    per_transcript = ["transcript", *registry_for(()).plugins, "report"]
    for asset in per_transcript:
        tags = {key: latest_tags(instance, asset, key) for key in keys}
        assert all(tags[key]["dagster/input_data_version/inbox_file"] == digest(inbox / key) for key in keys), asset
        assert len({tags[key]["dagster/data_version"] for key in keys}) == len(keys), asset  # one per transcript
    stored = json.loads((inbox.parent / "outputs" / "word_frequency" / "retro_pt.txt.json").read_text())
    assert latest_tags(instance, "word_frequency", "retro_pt.txt")["dagster/data_version"] == record_version(stored)
    assert stale_statuses(instance, definitions, per_transcript, keys) == {
        (asset, key): StaleStatus.FRESH for asset in per_transcript for key in keys
    }

    changed = inbox / "retro_pt.txt"
    changed.write_text(changed.read_text() + "[00:01:20] Marina Lopes: Mais uma coisa importante.\n")
    observe(instance, changed)
    assert stale_statuses(instance, definitions, per_transcript, keys) == {
        (asset, key): StaleStatus.STALE if key == "retro_pt.txt" else StaleStatus.FRESH
        for asset in per_transcript
        for key in keys
    }
    assert process.execute_in_process(instance=instance, partition_key="retro_pt.txt").success  # one transcript
    assert set(stale_statuses(instance, definitions, per_transcript, keys).values()) == {StaleStatus.FRESH}
    assert latest_tags(instance, "word_frequency", "retro_pt.txt")["dagster/input_data_version/inbox_file"] == digest(
        changed
    )


def observe(instance: dg.DagsterInstance, file: Path) -> None:
    """The inbox sensor's record of a file: an observation of its partition with the file's hash."""
    tags = {"dagster/data_version": digest(file)}
    instance.report_runless_asset_event(dg.AssetObservation("inbox_file", partition=file.name, tags=tags))


def latest_tags(instance: dg.DagsterInstance, asset: str, key: str) -> dict[str, str]:
    filtered = dg.AssetRecordsFilter(asset_key=dg.AssetKey(asset), asset_partitions=[key])
    [record] = instance.fetch_materializations(filtered, limit=1).records
    return dict(record.asset_materialization.tags)


def stale_statuses(
    instance: dg.DagsterInstance, definitions: dg.Definitions, assets: list[str], keys: list[str]
) -> dict[tuple[str, str], StaleStatus]:
    """Each asset's stale status per transcript, as the UI shows it (Dagster's own resolver)."""
    resolver = CachingStaleStatusResolver(instance, definitions.resolve_asset_graph(), LoadingContextForTest(instance))
    return {(asset, key): resolver.get_status(dg.AssetKey(asset), key) for asset in assets for key in keys}


def test_inbox_paths_finds_a_runs_files_without_listing_the_inbox_for_plain_names(tmp_path: Path) -> None:
    inbox = tmp_path / "inbox"
    (inbox / "sub").mkdir(parents=True)
    for name in ("plain.vtt", "Reunião 1.vtt", "sub/nested.txt"):
        (inbox / name).write_text("Ana: oi\n", encoding="utf-8")
    everything = inbox_files(inbox)
    found = inbox_paths(inbox, [*everything, "gone.vtt"])
    assert found == everything and "gone.vtt" not in found and len(found) == 3
    assert inbox_paths(inbox, ["plain.vtt"]) == {"plain.vtt": inbox / "plain.vtt"}


def test_corpus_and_report_checks_fail_on_gaps_missing_values_and_markup() -> None:
    table = pd.DataFrame({"transcript": ["a.vtt"], "polarity": [float("nan")], "date": [pd.NaT]})
    failed = corpus_check_result("sentiment_over_time", table, {"a.vtt", "b.vtt"}, nullable=("date",))
    problems = failed.metadata["problems"].value
    assert not failed.passed and "no rows for transcript b.vtt" in problems and "polarity: 1 missing" in problems
    assert "date" not in problems
    clean = "<html><script src='plotly.min.js'></script><div class='plotly-graph-div'></div><script>1</script></html>"
    [fine] = report_check_evaluations({"a.vtt": clean.encode()}, {"a.vtt": ["Ana", "a <b>bold</b> claim"]})
    assert fine.passed and fine.partition == "a.vtt"
    injected = clean.replace("</html>", "<p>a <b>bold</b> claim</p><script>alert(1)</script></html>")
    [result] = report_check_evaluations({"a.vtt": injected.encode()}, {"a.vtt": ["a <b>bold</b> claim"]})
    assert not result.passed and "3 scripts for 1 chart(s)" in result.metadata["problems"].value
    assert "unescaped input text: 'a <b>bold</b> claim'" in result.metadata["problems"].value
    assert not report_check_evaluations({"a.vtt": b""}, {})[0].passed


def partition_metadata(instance: dg.DagsterInstance, asset: str, key: str) -> dict[str, dg.MetadataValue]:
    [record] = instance.fetch_materializations(
        dg.AssetRecordsFilter(asset_key=dg.AssetKey(asset), asset_partitions=[key]), limit=1
    ).records
    return record.asset_materialization.metadata


def rendered_dom(page: Path) -> str:
    """The page as headless Chromium leaves it once its scripts have run: proof the charts draw offline."""
    browser = next(filter(None, map(shutil.which, ("chromium", "chromium-browser", "google-chrome"))), None)
    assert browser, "Chromium is needed for this test (apt-get install chromium)"
    command = [browser, "--headless", "--no-sandbox", "--disable-gpu", "--virtual-time-budget=10000", "--dump-dom"]
    return subprocess.run([*command, page.as_uri()], capture_output=True, text=True, timeout=120, check=True).stdout


def test_corpus_sensor_refreshes_once_a_drop_is_processed_and_nothing_is_running(
    instance: dg.DagsterInstance, inbox: Path
) -> None:
    qualia = QualiaResource(inbox=str(inbox), max_bytes=1 << 20, outputs=str(inbox.parent / "outputs"))

    def tick() -> dg.SensorResult:
        return sensor_tick(corpus_sensor, instance=instance, resources={"qualia": qualia})

    assert tick().skip_reason.skip_message.startswith("no transcript processed")
    instance.add_dynamic_partitions(TRANSCRIPTS.name, ["retro_pt.txt"])
    assert materialize(instance, inbox, "retro_pt.txt").success
    waiting = dg.DagsterRun(job_name="process_transcripts", run_id=str(uuid.uuid4()), status=RunStatus.NOT_STARTED)
    instance.add_run(waiting)  # created by the sensor, not yet launched: the corpus waits for it too
    assert tick().skip_reason.skip_message.startswith("waiting for 1 run(s)")
    instance.report_run_canceled(waiting)
    running = dg.DagsterRun(job_name="process_transcripts", run_id=str(uuid.uuid4()), status=RunStatus.STARTED)
    instance.add_run(running)
    assert tick().skip_reason.skip_message.startswith("waiting for 1 run(s)")
    instance.report_run_failed(running)
    requests = tick().run_requests
    assert len(requests) == 1 and requests[0].run_key.startswith("corpus-after-")
    corpus = definitions_for(Settings(data_dir=inbox.parent)).resolve_job_def("refresh_corpus")
    assert corpus.execute_in_process(instance=instance).success
    assert tick().skip_reason.skip_message == "corpus tables are up to date"
    shutil.rmtree(inbox.parent / "outputs" / "search_index")  # as a restored backup leaves it (derived)
    assert len(tick().run_requests) == 1  # rebuilt by a refresh


def just_written(folder: Path) -> None:
    """Files touched now: the sensor must see them unchanged twice (a slow machine may take 5 s to get here)."""
    for path in folder.iterdir():
        os.utime(path)


def inbox_tick(instance: dg.DagsterInstance, inbox: Path, cursor: str | None) -> dg.SensorResult:
    """A tick that leaves files written just now for the next tick (no waiting within it): ticks back to back
    stand for ticks the daemon's interval apart."""
    qualia = QualiaResource(inbox=str(inbox), max_bytes=50 * 1024 * 1024, sensor_settle_wait_s=0)
    return sensor_tick(inbox_sensor, instance=instance, cursor=cursor, resources={"qualia": qualia})


def daemon_tick(instance: dg.DagsterInstance, inbox: Path, cursor: str | None) -> dg.SensorResult:
    return stored(instance, inbox_tick(instance, inbox, cursor))


def stored(instance: dg.DagsterInstance, result: dg.SensorResult) -> dg.SensorResult:
    """The tick's partitions added, as the daemon adds them before the next tick (the tick stores its
    observations itself)."""
    for request in result.dynamic_partitions_requests:
        instance.add_dynamic_partitions(TRANSCRIPTS.name, request.partition_keys)
    return result


def last_observation_id(instance: dg.DagsterInstance) -> int:
    records = instance.fetch_observations(dg.AssetKey(INBOX_FILE_ASSET), limit=1, ascending=False).records
    return records[0].storage_id if records else 0


def observed_since(instance: dg.DagsterInstance, storage_id: int) -> list[dg.AssetObservation]:
    """The ``inbox_file`` observations stored after ``storage_id``: what the ticks since then recorded."""
    selection = dg.AssetRecordsFilter(asset_key=dg.AssetKey(INBOX_FILE_ASSET), after_storage_id=storage_id)
    records = instance.fetch_observations(selection, limit=10_000, ascending=True).records
    return [record.asset_observation for record in records if record.asset_observation]


def test_inbox_sensor_takes_a_bounded_number_of_new_files_per_tick(instance: dg.DagsterInstance, inbox: Path) -> None:
    for number in range(8):  # 12 transcripts in all
        shutil.copy(SAMPLES["txt_pt"], inbox / f"extra_{number}.txt")
    qualia = QualiaResource(inbox=str(inbox), max_bytes=50 * 1024 * 1024, sensor_max_files=6, sensor_settle_wait_s=0)

    def tick(cursor: str | None) -> dg.SensorResult:
        return stored(
            instance, sensor_tick(inbox_sensor, instance=instance, cursor=cursor, resources={"qualia": qualia})
        )

    def range_sizes(result: dg.SensorResult) -> list[int]:
        ordered = instance.get_dynamic_partitions(TRANSCRIPTS.name)
        return [ordered.index(r.tags[RANGE_END]) - ordered.index(r.tags[RANGE_START]) + 1 for r in result.run_requests]

    just_written(inbox)
    taken = tick(tick(None).cursor)
    assert len(taken.dynamic_partitions_requests[0].partition_keys) == 6
    assert range_sizes(taken) == [4, 2]  # a new drop: a small first range, for quick first results
    rest = tick(taken.cursor)
    assert len(rest.dynamic_partitions_requests[0].partition_keys) == 6
    assert range_sizes(rest) == [6]  # the same drop continued: full batches
    assert "no new or changed transcripts" in tick(rest.cursor).skip_reason.skip_message


def test_a_drop_bigger_than_a_tick_is_taken_whole_and_costs_the_cursor_nothing(
    instance: dg.DagsterInstance, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """250 files still arriving and 10 complete ones written after them: the cursor remembers PENDING_LIMIT
    of the arriving ones and keeps its watermark below the rest, though newer complete files were taken;
    then ticks of at most 40 files take them, oldest change first, each exactly once, with a cursor of a few
    KB. A tick whose time budget is spent still takes one file, so a drop always moves."""
    monkeypatch.setattr("qualia_pipelines.core.inbox.QUIET_S", 2.0)
    inbox = tmp_path / "drop"
    inbox.mkdir()
    text = SAMPLES["txt_pt"].read_bytes()
    for number in range(250):
        (inbox / f"meeting_{number:03d}.txt").write_bytes(text + str(number).encode())
    old = time.time() - 60
    for number in range(10):
        (inbox / f"archived_{number}.txt").write_bytes(text + b"archived" + str(number).encode())
        os.utime(inbox / f"archived_{number}.txt", (old, old))
    qualia = QualiaResource(inbox=str(inbox), max_bytes=50 * 1024 * 1024, sensor_max_files=40, sensor_settle_wait_s=0)

    def tick(cursor: str | None, resource: QualiaResource = qualia) -> dg.SensorResult:
        return stored(
            instance, sensor_tick(inbox_sensor, instance=instance, cursor=cursor, resources={"qualia": resource})
        )

    first = tick(None)
    taken = list(first.dynamic_partitions_requests[0].partition_keys)
    assert taken == [f"archived_{number}.txt" for number in range(10)]
    assert len(json.loads(first.cursor)["pending"]) == PENDING_LIMIT
    time.sleep(2.1)  # the arriving files have been quiet long enough
    cursor, sizes = first.cursor, [len(first.cursor)]
    for _ in range(7):
        result = tick(cursor)
        taken += result.dynamic_partitions_requests[0].partition_keys
        cursor = result.cursor
        sizes.append(len(cursor))
    assert sorted(taken) == sorted(path.name for path in inbox.iterdir()) and len(taken) == 260
    assert max(sizes) < 8192, sizes
    assert "no new or changed transcripts" in tick(cursor).skip_reason.skip_message

    for number in range(3):
        (inbox / f"late_{number}.txt").write_bytes(text + b"late" + str(number).encode())
        os.utime(inbox / f"late_{number}.txt", (old, old))
    hurried = QualiaResource(inbox=str(inbox), max_bytes=50 * 1024 * 1024, sensor_tick_budget_s=1e-9)
    for number in range(3):
        result = tick(cursor, hurried)
        assert result.dynamic_partitions_requests[0].partition_keys == [f"late_{number}.txt"]
        cursor = result.cursor


def test_inbox_sensor_new_changed_growing_and_unreadable_files(instance: dg.DagsterInstance, inbox: Path) -> None:
    just_written(inbox)
    first = daemon_tick(instance, inbox, None)
    assert not first.run_requests  # first look at files written just now: they may still be growing
    mark = last_observation_id(instance)
    second = daemon_tick(instance, inbox, first.cursor)
    keys = ["customer_interview_en.vtt", "planning_en.docx", "retro_pt.txt", "weekly_sync_pt.vtt"]
    assert second.dynamic_partitions_requests[0].partition_keys == keys
    [batch] = second.run_requests  # one run for the whole drop
    assert batch.tags["qualia/launched_by"] == "sensor"
    versions = {event.partition: event.tags["dagster/data_version"] for event in observed_since(instance, mark)}
    assert versions["retro_pt.txt"] == digest(inbox / "retro_pt.txt")  # the file's hash is its data version
    assert (batch.tags[RANGE_START], batch.tags[RANGE_END]) == ("customer_interview_en.vtt", "weekly_sync_pt.vtt")
    quiet = daemon_tick(instance, inbox, second.cursor)
    assert not quiet.run_requests and "no new or changed transcripts" in quiet.skip_reason.skip_message

    growing = inbox / "Reunião Geral.txt"
    growing.write_text("[00:00:01] Ana: Começando a reunião.\n")
    seen_growing = daemon_tick(instance, inbox, quiet.cursor)
    with growing.open("a") as handle:
        handle.write("[00:00:05] Bia: Ainda chegando.\n")
    still_growing = daemon_tick(instance, inbox, seen_growing.cursor)
    assert not still_growing.run_requests and "1 still arriving" in still_growing.skip_reason.skip_message
    settled = daemon_tick(instance, inbox, still_growing.cursor)
    assert [r.partition_key for r in settled.run_requests] == [settled.dynamic_partitions_requests[0].partition_keys[0]]
    assert settled.run_requests[0].partition_key.startswith("reuniao-geral-txt-")

    changed = inbox / "retro_pt.txt"
    changed.write_text(changed.read_text() + "[00:01:20] Marina Lopes: Mais uma coisa importante.\n")
    os.utime(changed, ns=(time.time_ns(), time.time_ns() + 5_000_000))
    look = daemon_tick(instance, inbox, settled.cursor)
    mark = last_observation_id(instance)
    rerun = daemon_tick(instance, inbox, look.cursor)
    assert [r.partition_key for r in rerun.run_requests] == ["retro_pt.txt"]
    assert observed_since(instance, mark)[0].tags["dagster/data_version"] == digest(changed)
    assert not rerun.dynamic_partitions_requests  # a changed file keeps its partition

    (inbox / "photo.vtt").write_bytes(b"\x89PNG\r\n\x1a\n")
    look = daemon_tick(instance, inbox, rerun.cursor)
    unreadable = daemon_tick(instance, inbox, look.cursor)
    assert [r.partition_key for r in unreadable.run_requests] == ["photo.vtt"]  # its run fails; nothing else waits
    assert (inbox / "photo.vtt").read_bytes() == b"\x89PNG\r\n\x1a\n"

    archived = inbox / "archived_en.txt"  # moved in whole, last written a minute ago: no second look needed
    shutil.copy2(SAMPLES["txt_pt"], archived)
    os.utime(archived, (time.time() - 60, time.time() - 60))
    at_first_look = daemon_tick(instance, inbox, unreadable.cursor)
    assert [r.partition_key for r in at_first_look.run_requests] == ["archived_en.txt"]


def test_a_tick_waits_for_files_written_just_now_and_takes_those_that_stay_quiet(
    instance: dg.DagsterInstance, inbox: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A drop copied in just now is taken by the tick that first sees it, once the quiet period has passed,
    not a tick later; a file written to during the wait is left for the next look."""
    monkeypatch.setattr("qualia_pipelines.core.inbox.QUIET_S", 2.0)
    just_written(inbox)
    growing = inbox / "still_copying.txt"
    growing.write_text("[00:00:01] Ana: Começando a reunião.\n")

    def write_more() -> None:
        with growing.open("a") as handle:
            handle.write("[00:00:05] Bia: Ainda chegando.\n")

    threading.Timer(0.2, write_more).start()  # while the tick waits
    qualia = QualiaResource(inbox=str(inbox), max_bytes=50 * 1024 * 1024, sensor_settle_wait_s=3)
    started = time.monotonic()
    first = stored(instance, sensor_tick(inbox_sensor, instance=instance, cursor=None, resources={"qualia": qualia}))
    assert time.monotonic() - started >= 1.9  # it waited for the quiet period
    keys = ["customer_interview_en.vtt", "planning_en.docx", "retro_pt.txt", "weekly_sync_pt.vtt"]
    assert first.dynamic_partitions_requests[0].partition_keys == keys
    assert list(json.loads(first.cursor)["pending"]) == [str(growing)]
    second = stored(
        instance, sensor_tick(inbox_sensor, instance=instance, cursor=first.cursor, resources={"qualia": qualia})
    )
    assert [request.partition_key for request in second.run_requests] == ["still_copying.txt"]


def test_inbox_sensor_state_stays_small_and_changes_are_still_seen(
    instance: dg.DagsterInstance, tmp_path: Path
) -> None:
    """The cursor is a watermark, not a ledger: its size does not follow the inbox (50 or 500 files), and
    a file changed behind the watermark's back (old mtime put back, same size) is still found by its ctime."""
    inbox = tmp_path / "many"
    inbox.mkdir()
    text = SAMPLES["txt_pt"].read_bytes()
    qualia = QualiaResource(inbox=str(inbox), max_bytes=50 * 1024 * 1024, sensor_max_files=1000)
    sizes = []
    cursor = None
    for count in (50, 500):
        for number in range(count - len(list(inbox.iterdir()))):
            (inbox / f"meeting_{number:04d}_{count}.txt").write_bytes(text + str(number).encode())
        old = time.time() - 60
        for path in inbox.iterdir():
            os.utime(path, (old, old))  # settled at the first look
        mark = last_observation_id(instance)
        taken = stored(
            instance, sensor_tick(inbox_sensor, instance=instance, cursor=cursor, resources={"qualia": qualia})
        )
        assert len(taken.dynamic_partitions_requests[0].partition_keys) == count - (50 if count == 500 else 0)
        # the 50 touched again: their look recorded, same data version
        assert len(observed_since(instance, mark)) == count
        cursor = taken.cursor
        sizes.append(len(cursor))
        idle = sensor_tick(inbox_sensor, instance=instance, cursor=cursor, resources={"qualia": qualia})
        assert not idle.run_requests and "no new or changed" in idle.skip_reason.skip_message
        cursor = idle.cursor
    assert max(sizes) < 512 and len(cursor) < 512, sizes

    edited = inbox / "meeting_0007_50.txt"
    before = edited.stat()
    edited.write_bytes(text.replace(b"a", b"o", 1) + b"7")  # same size, then the old mtime put back
    os.utime(edited, ns=(before.st_atime_ns, before.st_mtime_ns))
    mark = last_observation_id(instance)
    seen = stored(instance, sensor_tick(inbox_sensor, instance=instance, cursor=cursor, resources={"qualia": qualia}))
    assert [request.partition_key for request in seen.run_requests] == ["meeting_0007_50.txt"]
    assert observed_since(instance, mark)[0].tags["dagster/data_version"] == digest(edited)

    copied = inbox / "archived_meeting.txt"  # copied in with its old times kept (cp -p): a fresh ctime all the same
    shutil.copy2(SAMPLES["txt_pt"], copied)
    os.utime(copied, (time.time() - 3600, time.time() - 3600))
    found = sensor_tick(inbox_sensor, instance=instance, cursor=seen.cursor, resources={"qualia": qualia})
    assert [request.partition_key for request in found.run_requests] == ["archived_meeting.txt"]


def test_inbox_sensor_without_its_cursor_recognises_what_the_instance_recorded(
    instance: dg.DagsterInstance, inbox: Path
) -> None:
    """A lost cursor, or the ledger cursor of an older Qualia, runs nothing again: each file is compared with
    its last ``inbox_file`` observation (path, size, times and hash, shown in the UI too)."""
    old = time.time() - 60
    for path in inbox.iterdir():
        os.utime(path, (old, old))
    daemon_tick(instance, inbox, None)
    observed = observed_since(instance, 0)
    assert len(observed) == 4
    metadata = observed[0].metadata
    assert metadata["path"].value == str(inbox / "customer_interview_en.vtt")
    assert metadata["size_bytes"].value == (inbox / "customer_interview_en.vtt").stat().st_size
    for cursor in (None, json.dumps({"seen": {}, "hashes": {}, "hashed_at": {}, "waiting": 0})):
        again = daemon_tick(instance, inbox, cursor)
        assert not again.run_requests and "4 already taken" in again.skip_reason.skip_message

    older = inbox / "older_qualia.txt"  # recorded by an older Qualia: its hash only, no look
    shutil.copy(SAMPLES["txt_pt"], older)
    os.utime(older, (old, old))
    instance.add_dynamic_partitions(TRANSCRIPTS.name, ["older_qualia.txt"])
    instance.report_runless_asset_event(
        dg.AssetObservation("inbox_file", partition="older_qualia.txt", tags={"dagster/data_version": digest(older)})
    )
    mark = last_observation_id(instance)
    read = daemon_tick(instance, inbox, None)
    assert not read.run_requests  # read once, the same content: its look recorded, nothing run
    assert [event.partition for event in observed_since(instance, mark)] == ["older_qualia.txt"]
    assert "5 already taken" in daemon_tick(instance, inbox, None).skip_reason.skip_message


def test_a_lost_cursor_is_made_good_a_bounded_number_of_files_per_tick(
    instance: dg.DagsterInstance, inbox: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Without a cursor every file may have changed. A tick compares at most LOOK_LIMIT files with what the
    instance recorded (oldest change first) and the next ticks go on from there, so a tick costs the same at
    100,000 files (one look at all of them would outlast Dagster's sensor timeout); a file changed meanwhile
    is found when its turn comes."""
    text = SAMPLES["txt_pt"].read_bytes()
    for number in range(6):
        (inbox / f"extra_{number}.txt").write_bytes(text + str(number).encode())
    old = time.time() - 60
    for path in sorted(inbox.iterdir()):
        os.utime(path, (old, old))
        time.sleep(0.02)  # a ctime of its own (the kernel's clock for file times is coarse)
    assert len(daemon_tick(instance, inbox, None).dynamic_partitions_requests[0].partition_keys) == 10
    edited = inbox / "extra_0.txt"
    edited.write_bytes(text + b"edited")
    os.utime(edited, (old, old))  # the newest change of all
    monkeypatch.setattr("qualia_pipelines.core.inbox.LOOK_LIMIT", 4)
    mark = last_observation_id(instance)
    first = daemon_tick(instance, inbox, None)
    assert "4 already taken as they are; 6 more to look at" in first.skip_reason.skip_message
    second = daemon_tick(instance, inbox, first.cursor)
    assert "4 already taken as they are; 2 more to look at" in second.skip_reason.skip_message
    assert not observed_since(instance, mark)  # recognised, nothing read
    third = daemon_tick(instance, inbox, second.cursor)
    assert [request.partition_key for request in third.run_requests] == ["extra_0.txt"]
    assert [event.partition for event in observed_since(instance, mark)] == ["extra_0.txt"]
    idle = daemon_tick(instance, inbox, third.cursor)
    assert "more to look at" not in idle.skip_reason.skip_message and not idle.run_requests


def test_a_look_over_its_limit_keeps_files_changed_in_the_same_clock_tick_together(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A coarse clock gives many files one ctime; cutting between them would hold the watermark where it is
    and look at the same files forever. Pending files come first, whatever their ctime."""
    monkeypatch.setattr("qualia_pipelines.core.inbox.LOOK_LIMIT", 3)
    current = {f"/in/{n}.txt": Observation(10, 1, 100 if n < 5 else 200 + n, 1) for n in range(8)}
    scan = InboxScan(pending={"/in/7.txt": current["/in/7.txt"]})
    looked, later = scan.to_look_at(current)
    assert list(looked) == ["/in/7.txt", "/in/0.txt", "/in/1.txt", "/in/2.txt", "/in/3.txt", "/in/4.txt"]
    assert list(later) == ["/in/5.txt", "/in/6.txt"]
    after = scan.advanced(list(looked.values()), {}, 0, later.values())
    assert after.watermarks == {1: 205} and after.waiting == 2 and not after.pending
    assert list(after.to_look_at(current)[0]) == ["/in/5.txt", "/in/6.txt", "/in/7.txt"]


def test_a_tick_lost_after_recording_its_files_takes_them_again(instance: dg.DagsterInstance, inbox: Path) -> None:
    """A tick stores its files' observations itself; if its partitions and runs are never applied (the daemon
    stopped in between), the next tick takes the same files again rather than calling them taken."""
    old = time.time() - 60
    for path in inbox.iterdir():
        os.utime(path, (old, old))
    lost = inbox_tick(instance, inbox, None)
    assert len(observed_since(instance, 0)) == 4 and not instance.get_dynamic_partitions(TRANSCRIPTS.name)
    again = daemon_tick(instance, inbox, lost.cursor)
    assert again.dynamic_partitions_requests == lost.dynamic_partitions_requests
    assert [r.tags for r in again.run_requests] == [r.tags for r in lost.run_requests]
    assert "4 already taken" in daemon_tick(instance, inbox, None).skip_reason.skip_message


def test_inbox_sensor_marks_a_file_too_slow_to_read_as_failed_and_goes_on(
    instance: dg.DagsterInstance, tmp_path: Path
) -> None:
    """The sensor checks files in a worker process under the work limit: a file it cannot read within it
    gets a run of its own (which fails with the reason) instead of stalling the tick; the next file, checked
    by a fresh worker, is taken as usual."""
    inbox = tmp_path / "drop"
    inbox.mkdir()
    turns = "".join(f"[{n // 3600:02d}:{n // 60 % 60:02d}:{n % 60:02d}] A: b\n" for n in range(1_500_000))
    (inbox / "a_slow.txt").write_text(turns)  # 25 MB of one-word turns: about 2 s to read
    shutil.copy(SAMPLES["txt_pt"], inbox / "b_ok.txt")
    for path in inbox.iterdir():
        os.utime(path, (time.time() - 60, time.time() - 60))  # settled at the first look
    qualia = QualiaResource(inbox=str(inbox), max_bytes=50 * 1024 * 1024, work_timeout_s=0.5)
    result = sensor_tick(inbox_sensor, instance=instance, cursor=None, resources={"qualia": qualia})
    assert result.dynamic_partitions_requests[0].partition_keys == ["a_slow.txt", "b_ok.txt"]
    assert sorted(request.partition_key for request in result.run_requests) == ["a_slow.txt", "b_ok.txt"]
    assert len(result.run_requests) == 2  # each on its own: the slow one is "unreadable", not part of a range


FLAKY = """
import os
from qualia_pipelines.core.contract import Plugin
def run(inputs, params):
    if os.path.exists(os.environ["QUALIA_TEST_FAIL_FLAG"]):
        raise RuntimeError("deliberate failure")
    return {"flaky_value": len(inputs["cleaned_document"]["segments"])}
plugin = Plugin("flaky", "analyzer", "1", "Fails while a flag file exists.", ("cleaned_document",),
                ("flaky_value",), run)
"""


@pytest.fixture
def flaky_plugin(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[tuple[str, ...], Path]:
    """A plugin folder with ``flaky`` (fails while the returned flag file exists; it exists at first)."""
    folder = tmp_path / "extra_plugins"
    folder.mkdir()
    (folder / "flaky.py").write_text(textwrap.dedent(FLAKY))
    flag = tmp_path / "fail-now"
    flag.touch()
    monkeypatch.setenv("QUALIA_TEST_FAIL_FLAG", str(flag))
    return (str(folder),), flag


def signed_alerts(hooks: Received, secret: str) -> list[dict]:
    """The alerts the receiver got, each checked against its HMAC signature."""
    alerts = []
    for headers, body in hooks.requests:
        assert headers["x-qualia-signature"] == signature(secret.encode(), headers["x-qualia-timestamp"], body)
        alerts.append(json.loads(body))
    return alerts


def test_circuit_breaker_opens_skips_half_opens_and_closes(
    instance: dg.DagsterInstance, inbox: Path, flaky_plugin: tuple[tuple[str, ...], Path], hooks: Received
) -> None:
    plugin_dirs, flag = flaky_plugin
    alerts = AlertsResource(webhook_url=hooks.url + "/qualia-alerts", secret="s3cret")
    instance.add_dynamic_partitions(TRANSCRIPTS.name, ["retro_pt.txt"])
    breaker = {"breaker_failures": 3, "breaker_window_s": 120.0, "breaker_cooldown_s": 20.0}
    for _ in range(3):
        assert not materialize(instance, inbox, "retro_pt.txt", plugin_dirs, **breaker).success
    status = plugin_breaker(instance, "flaky", resources(inbox, plugin_dirs, **breaker)["qualia"], time.time())
    assert status.state == "open" and status.recent_failures == 3

    skipped = materialize(instance, inbox, "retro_pt.txt", plugin_dirs, **breaker)
    assert skipped.success  # open: skipped, not failed, not retried
    assert not [e for e in skipped.all_events if e.event_type_value == "STEP_FAILURE"]
    observation = next(e for e in skipped.all_events if e.event_type_value == "ASSET_OBSERVATION")
    assert (
        "flaky open: 3 recent failures"
        in observation.event_specific_data.asset_observation.metadata["circuit_breaker"].value
    )
    tick = sensor_tick(
        circuit_breaker_sensor,
        instance=instance,
        resources={"qualia": resources(inbox, plugin_dirs, **breaker)["qualia"], "alerts": alerts},
    )
    assert "flaky open" in tick.skip_reason.skip_message and "closed -> open" in tick.skip_reason.skip_message
    [opened] = signed_alerts(hooks, "s3cret")
    assert (opened["event"], opened["assets"], opened["details"]["before"]) == ("breaker_open", ["flaky"], "closed")

    time.sleep(max(0.0, status.retry_after - time.time()) + 0.2)  # cool-down passes: half-open lets one attempt in
    flag.unlink()
    recovered = materialize(instance, inbox, "retro_pt.txt", plugin_dirs, **breaker)
    assert recovered.success
    value = json.loads((inbox.parent / "outputs" / "flaky" / "retro_pt.txt.json").read_text())
    assert value["values"] == {"flaky_value": 10}
    tick = sensor_tick(
        circuit_breaker_sensor,
        instance=instance,
        cursor=tick.cursor,
        resources={"qualia": resources(inbox, plugin_dirs, **breaker)["qualia"], "alerts": alerts},
    )
    assert "all breakers closed" in tick.skip_reason.skip_message and "open -> closed" in tick.skip_reason.skip_message
    assert [alert["event"] for alert in signed_alerts(hooks, "s3cret")] == ["breaker_open", "breaker_closed"]


@pytest.fixture
def hooks() -> Iterator[Received]:
    with receiver() as received:
        yield received


def run_failure_context(instance: dg.DagsterInstance, alerts: AlertsResource) -> dg.RunFailureSensorContext:
    [run] = instance.get_runs(filters=dg.RunsFilter(statuses=[RunStatus.FAILURE]), limit=1)
    [failure] = instance.all_logs(run.run_id, of_type=dg.DagsterEventType.RUN_FAILURE)
    return dg.build_run_status_sensor_context(
        sensor_name="run_failure_alert_sensor",
        dagster_event=failure.dagster_event,
        dagster_instance=instance,
        dagster_run=run,
        resources={"alerts": alerts},
    ).for_run_failure()


def test_a_failed_run_sends_a_signed_alert_naming_asset_partition_and_error(
    instance: dg.DagsterInstance,
    inbox: Path,
    flaky_plugin: tuple[tuple[str, ...], Path],
    hooks: Received,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    plugin_dirs, _ = flaky_plugin
    instance.add_dynamic_partitions(TRANSCRIPTS.name, ["retro_pt.txt"])
    assert not materialize(instance, inbox, "retro_pt.txt", plugin_dirs).success
    import sentry_sdk

    with receiver() as sentry:
        monkeypatch.setenv("SENTRY_DSN", sentry.url.replace("http://", "http://publickey@") + "/1")
        try:
            run_failure_alert_sensor(run_failure_context(instance, AlertsResource(webhook_url=hooks.url, secret="k")))
            sentry_sdk.flush(timeout=10)
        finally:
            sentry_sdk.get_client().close()
    [alert] = signed_alerts(hooks, "k")
    assert (alert["event"], alert["assets"], alert["partition"]) == ("run_failure", ["flaky"], "retro_pt.txt")
    assert ("deliberate failure" in alert["error"] and alert["run_id"] in alert["summary"]) or alert["run_id"]
    [event] = [json.loads(line) for body in sentry.bodies for line in body.splitlines() if b'"message"' in line]
    assert event["tags"].items() >= {"alert": "run_failure", "asset": "flaky", "partition": "retro_pt.txt"}.items()
    assert event["message"] == alert["summary"] and event["level"] == "error"

    hooks.status = 503  # an alert that cannot be delivered fails the tick (Dagster evaluates it again)
    with pytest.raises(AlertError, match="answered 503"):
        run_failure_alert_sensor(run_failure_context(instance, AlertsResource(webhook_url=hooks.url, secret="k")))
    with pytest.raises(AlertError, match="QUALIA_ALERT_SECRET is not set"):
        run_failure_alert_sensor(run_failure_context(instance, AlertsResource(webhook_url=hooks.url)))


def test_stored_outputs_are_found_by_name_without_listing_their_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Reading a partition's record costs the same at 10 or 100,000 partitions: no glob of the asset folder
    (which made reading N records quadratic). A rendering drawn again in another format: the newest counts."""
    folder = tmp_path / "word_frequency"
    folder.mkdir()
    for number in range(20):
        (folder / f"meeting-{number}.json").write_text(json.dumps({"values": {"n": number}}))
    (folder / "odd[1]*.json").write_text(json.dumps({"values": {"n": "odd"}}))
    cloud = tmp_path / "wordcloud_viz"
    cloud.mkdir()
    (cloud / "meeting-3.png").write_bytes(b"png")
    (cloud / "meeting-3.svg").write_bytes(b"<svg/>")
    os.utime(cloud / "meeting-3.png", (time.time() - 60, time.time() - 60))
    (cloud / "meeting-4.webp").write_bytes(b"a plugin's own format")

    def no_listing(*_: object, **__: object) -> None:
        raise AssertionError("an output was looked for by listing its folder")

    monkeypatch.setattr(Path, "glob", no_listing)
    monkeypatch.setattr(Path, "iterdir", no_listing)
    assert QualiaIOManager._read(folder, "meeting-7") == {"values": {"n": 7}}
    assert QualiaIOManager._read(folder, "odd[1]*") == {"values": {"n": "odd"}}
    assert QualiaIOManager._read(cloud, "meeting-3") == cloud / "meeting-3.svg"
    with pytest.raises(AssertionError, match="listing"):  # an unknown format is the one case that lists
        QualiaIOManager._read(cloud, "meeting-4")
    monkeypatch.undo()
    assert QualiaIOManager._read(cloud, "meeting-4") == cloud / "meeting-4.webp"
    with pytest.raises(FileNotFoundError, match="word_frequency/meeting-99"):
        QualiaIOManager._read(folder, "meeting-99")
