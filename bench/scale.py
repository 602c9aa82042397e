"""Scale benchmark: what an inbox of N transcripts costs the sensor and the corpus reads, at several N.

Run: `.venv/bin/python bench/scale.py [--sizes 1000 10000] [--big] [--only search]` (`--big` adds N = 100,000;
`--only dagster|records|store|backup|search` measures one part). For each N it builds, in a temporary folder,
an inbox of N small transcripts that a real Dagster instance (SQLite, `ops/dagster.yaml`) already knows as
processed (partitions, `inbox_file` observations, a materialization of every per-transcript and corpus asset,
stored as the batching event log stores a run's events), then measures on the real code:

- the Dagster side: loading the definitions in a fresh process, the processing schedule's planning, the
  health report, and through a real `dagster dev` the asset page's partition status query (cold and warm)
  and the tick rows its daemon writes in three idle minutes (per hour); then a drop of 10,000 one-hour VTT
  files taken tick by tick (how many ticks, the slowest with its storing, the largest cursor);
- the inbox sensor: cursor bytes, and the seconds of an idle tick, of the ticks with no cursor (lost, or left
  by an older Qualia: every file recognised from the instance, 2,000 a tick; how many, the slowest), and of
  the ticks that take a drop of 100 new files;
  the baseline is the cursor the ledger design kept (every file's path, size, mtime and hash, twice), built
  from the same files in the same run;
- a page of `GET /transcripts` (the first, the next, and the last: files not registered yet), against the
  baseline of the whole listing in one answer, as the API gave it before it paged;
- reading N stored records the way a corpus refresh did (the IO manager, one record per partition), against
  the baseline of finding each by listing its folder (timed on 200 keys and scaled to N: at 10,000 in full it
  takes minutes);
- the corpus refresh after a drop of 100 new transcripts into a corpus store of N one-hour meetings (each
  with 1,200 distinct words, Zipf-like counts, 4 speakers and a sentiment; the store is written directly in
  its documented layout, by DuckDB): taking the drop in, then computing the four corpus tables and writing
  them as Parquet, in a child process whose peak RSS is reported (targets at 100,000: <= 30 s, <= 1.5 GB);
- the nightly backup (a restic snapshot) after a drop of 100 meetings into outputs of N meetings (each with
  the 21 files in 12 folders a real one-hour meeting leaves, the dropped ones at their real sizes, random
  bytes; the first snapshot is setup): seconds and bytes added, against the bytes the drop wrote (target at
  100,000: <= 60 s, <= about 3x the new data);
- search over a full-text index of N one-hour meetings (600 utterances of 12 words each, drawn from the
  samples' vocabulary): the index update for a drop of 100 meetings, and the p95 of 40 queries (words,
  phrases, prefixes, with and without filters) (targets at 100,000: <= 30 s and <= 300 ms);

and the growth exponent of each figure between sizes (1 = linear in N, 0 = flat). Then the bytes of outputs
a one-hour meeting costs (two meetings through `qualia run`). A benchmark, not a test.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "bench")]

import dagster as dg  # noqa: E402

from qualia_pipelines.core.corpus import TOP_DISTINCTIVE, CorpusStore, TranscriptFacts  # noqa: E402
from qualia_pipelines.core.inbox import Known, observe  # noqa: E402
from qualia_pipelines.core.search import Meeting, SearchFilters, SearchIndex  # noqa: E402
from qualia_pipelines.orchestration.partitions import TRANSCRIPTS, partition_key  # noqa: E402
from qualia_pipelines.orchestration.resources import QualiaIOManager, QualiaResource  # noqa: E402
from qualia_pipelines.orchestration.sensors import _sha256, inbox_file_observation, inbox_sensor  # noqa: E402
from qualia_pipelines.orchestration.status import (  # noqa: E402
    ListingCursor,
    RegisteredKeys,
    registered_states,
    transcript_page,
)

SAMPLE = (ROOT / "samples" / "retro_pt.txt").read_text(encoding="utf-8")
MEETING_WORDS = 1200
WORD_POOL = 199_999  # prime: a meeting's words (i * step mod the pool) are distinct
DROP = 100
BIG_DROP = 10_000
LISTING_SAMPLE = 200
PAGE = 100
LATE = 10


def write_transcripts(folder: Path, count: int, prefix: str) -> list[Path]:
    """``count`` distinct small transcripts (the sample with a closing line of its own)."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for number in range(count):
        path = folder / f"{prefix}_{number:06d}.txt"
        path.write_text(f"{SAMPLE}[01:00:00] Ana: Encerrando a reunião {prefix} {number}.\n", encoding="utf-8")
        paths.append(path)
    old = time.time() - 3600  # finished arriving long ago: settled at the first look
    for path in paths:
        os.utime(path, (old, old))
    return paths


def ledger_cursor_bytes(inbox: Path, digests: dict[str, str]) -> int:
    """The cursor the ledger design stored for this inbox (into every tick row)."""
    looks = observe(inbox)
    seen = {path: [look.size, look.mtime_ns] for path, look in looks.items()}
    return len(json.dumps({"seen": seen, "hashes": digests, "hashed_at": seen, "waiting": 0}))


def timed(action: Callable[[], object]) -> tuple[float, object]:
    started = time.perf_counter()
    result = action()
    return time.perf_counter() - started, result


def sensor_figures(instance: dg.DagsterInstance, inbox: Path, digests: dict[str, str]) -> dict[str, float]:
    qualia = QualiaResource(inbox=str(inbox), max_bytes=50 * 1024 * 1024, sensor_max_files=DROP)
    recovery = recovered(instance, qualia)
    idle_s, idle = timed(lambda: stored_tick(instance, qualia, recovery.cursor))
    write_transcripts(inbox, DROP, "drop")
    drop = taken_in_ticks(instance, qualia, idle.cursor, DROP)
    after_s, after = timed(lambda: stored_tick(instance, qualia, drop.cursor))
    return {
        "ledger cursor bytes (baseline)": ledger_cursor_bytes(inbox, digests),
        "cursor bytes": len(after.cursor),
        "idle tick s": min(idle_s, after_s),
        "ticks without cursor: slowest s": max(recovery.seconds),
        "ticks without cursor: how many": len(recovery.seconds),
        f"drop of {DROP}: ticks to take it": len(drop.seconds),
        f"drop of {DROP}: slowest tick s": max(drop.seconds),
    }


@dataclass
class Ticks:
    """Inbox sensor ticks in a row: each one's seconds, the partitions they added, the largest and last cursor."""

    cursor: str | None
    seconds: list[float] = field(default_factory=list)
    added: int = 0
    largest_cursor: int = 0


def ticks_until(
    instance: dg.DagsterInstance,
    qualia: QualiaResource,
    cursor: str | None,
    done: Callable[[Ticks, dg.SensorResult], bool],
) -> Ticks:
    ticks = Ticks(cursor)
    while True:
        spent, result = timed(lambda: stored_tick(instance, qualia, ticks.cursor))
        ticks.seconds.append(spent)
        ticks.added += sum(len(request.partition_keys) for request in result.dynamic_partitions_requests)
        ticks.cursor = result.cursor
        ticks.largest_cursor = max(ticks.largest_cursor, len(result.cursor))
        if done(ticks, result):
            return ticks


def recovered(instance: dg.DagsterInstance, qualia: QualiaResource) -> Ticks:
    """Ticks from no cursor (lost, or left by an older Qualia) until the inbox sensor has looked at every file
    (``LOOK_LIMIT`` per tick): up to the first tick that does not say files are left to look at."""

    def caught_up(_: Ticks, result: dg.SensorResult) -> bool:
        return not result.skip_reason or "more to look at" not in result.skip_reason.skip_message

    return ticks_until(instance, qualia, None, caught_up)


def taken_in_ticks(instance: dg.DagsterInstance, qualia: QualiaResource, cursor: str | None, count: int) -> Ticks:
    """Ticks until ``count`` new files have their partitions."""
    return ticks_until(instance, qualia, cursor, lambda ticks, _: ticks.added >= count)


def intake_figures(instance: dg.DagsterInstance, inbox: Path) -> dict[str, float]:
    """A drop of 10,000 one-hour transcripts (VTT, ~60 KB) taken tick by tick, each tick's partitions and
    observations stored as the daemon stores them: how many ticks, the slowest, the largest cursor."""
    from engine import build_vtt

    qualia = QualiaResource(inbox=str(inbox), max_bytes=50 * 1024 * 1024)
    cursor = recovered(instance, qualia).cursor  # the inbox before the drop, known
    template = build_vtt(inbox.parent / "hour.vtt", 60_000).read_text(encoding="utf-8")
    old = time.time() - 3600
    for number in range(BIG_DROP):
        path = inbox / "big_drop" / f"hour_{number:05d}.vtt"
        path.parent.mkdir(exist_ok=True)
        path.write_text(f"{template}\nNOTE meeting {number}\n", encoding="utf-8")
        os.utime(path, (old, old))  # complete when the tick first sees it
    drop = taken_in_ticks(instance, qualia, cursor, BIG_DROP)
    return {
        f"drop of {BIG_DROP:,}: ticks to take it": len(drop.seconds),
        f"drop of {BIG_DROP:,}: slowest tick s": max(drop.seconds),
        f"drop of {BIG_DROP:,}: largest cursor bytes": drop.largest_cursor,
        f"drop of {BIG_DROP:,}: all taken s": sum(drop.seconds),
    }


def stored_tick(instance: dg.DagsterInstance, qualia: QualiaResource, cursor: str | None) -> dg.SensorResult:
    """One inbox sensor tick (which stores its observations), its partitions added as the daemon adds them."""
    with dg.build_sensor_context(instance=instance, cursor=cursor, resources={"qualia": qualia}) as context:
        result = inbox_sensor(context)
    for request in result.dynamic_partitions_requests:
        instance.add_dynamic_partitions(TRANSCRIPTS.name, request.partition_keys)
    return result


def dagster_figures(count: int) -> dict[str, float]:
    """The Dagster side with ``count`` processed transcripts (16.6): definitions load, sensor ticks, the
    processing schedule's planning, the status listing and health report, the partition status query the
    asset page makes (through a real webserver), the bytes the daemon's idle ticks add, and the intake of a
    drop of 10,000 files."""
    from datetime import UTC, datetime

    from qualia_pipelines.core.settings import Settings
    from qualia_pipelines.orchestration.schedules import processing_schedule
    from qualia_pipelines.orchestration.status import health_report

    work = Path(tempfile.mkdtemp(prefix=f"qualia-dagster-{count}-"))
    try:
        data, home = work / "data", work / "dagster_home"
        inbox = data / "inbox"
        write_transcripts(inbox, count, "meeting")
        home.mkdir()
        shutil.copy(ROOT / "ops" / "dagster.yaml", home / "dagster.yaml")  # the instance `make ui` runs
        environment = {**os.environ, "DAGSTER_HOME": str(home), "QUALIA_DATA_DIR": str(data)}
        qualia = QualiaResource(inbox=str(inbox), max_bytes=50 * 1024 * 1024, outputs=str(data / "outputs"))
        with dg.DagsterInstance.from_config(str(home)) as instance:
            setup_s, digests = timed(lambda: register_corpus(instance, inbox, qualia))
        figures: dict[str, float] = {"register processed transcripts s (setup)": setup_s}
        figures.update(served_figures(work, environment))  # first: the inbox holds only processed files
        figures["definitions load s"] = definitions_load_seconds(environment)
        with dg.DagsterInstance.from_config(str(home)) as instance:
            when = datetime.now(UTC)
            with dg.build_schedule_context(instance, when, resources={"qualia": qualia}) as context:
                figures["processing schedule planning s"], planned = timed(lambda: processing_schedule(context))
            assert not planned, f"the schedule planned {len(planned)} runs for a processed corpus"
            settings = Settings(data_dir=data)
            figures["health report s"], _ = timed(lambda: health_report(settings, qualia, instance))
            # before the listing adds files the sensor has not taken: a tick without cursor would read them
            figures.update(sensor_figures(instance, inbox, digests))
            figures.update(listing_figures(instance, inbox))
            figures.update(intake_figures(instance, inbox))
        return figures
    finally:
        shutil.rmtree(work, ignore_errors=True)


def register_corpus(instance: dg.DagsterInstance, inbox: Path, qualia: QualiaResource) -> dict[str, str]:
    """Every inbox file registered and processed as the pipeline leaves it: its partition, its ``inbox_file``
    observation, a materialization of each per-transcript asset, then one of each corpus asset (written in
    batches, as the batching event log writes a run's events); the corpus search index file. Returns the
    files' digests (for the ledger baseline)."""
    from qualia_pipelines.orchestration.corpus_assets import CORPUS_ASSETS, search_file
    from qualia_pipelines.orchestration.instance import report_runless_events
    from qualia_pipelines.orchestration.schedules import per_transcript_assets

    looks = observe(inbox)
    keys = {path: partition_key(inbox, Path(path)) for path in looks}
    instance.add_dynamic_partitions(TRANSCRIPTS.name, sorted(keys.values()))
    digests = {path: _sha256(Path(path)) or "" for path in looks}
    events: list[Any] = [
        inbox_file_observation(keys[path], Path(path), Known(look, digests[path])) for path, look in looks.items()
    ]
    events += [
        dg.AssetMaterialization(asset, partition=key)
        for asset in per_transcript_assets(qualia)
        for key in keys.values()
    ]
    events += [dg.AssetMaterialization(asset) for asset in CORPUS_ASSETS]
    report_runless_events(instance, events, batch_size=2000)
    search_file(Path(qualia.outputs)).parent.mkdir(parents=True, exist_ok=True)
    search_file(Path(qualia.outputs)).touch()
    return digests


def definitions_load_seconds(environment: dict[str, str]) -> float:
    """Loading the code location's definitions in a fresh process, as a code server does (imports included)."""
    code = (
        "import time; started = time.perf_counter(); from qualia_pipelines.definitions import defs; "
        "defs.get_repository_def().get_all_jobs(); print(time.perf_counter() - started)"
    )
    done = subprocess.run([sys.executable, "-c", code], env=environment, capture_output=True, text=True, check=True)
    return float(done.stdout.strip().splitlines()[-1])


IDLE_S = 180


def served_figures(work: Path, environment: dict[str, str]) -> dict[str, float]:
    """``dagster dev`` on the instance: the tick rows its daemon writes while idle for three minutes
    (extrapolated to an hour), then the asset page's partition status query, cold and warm."""
    from pipeline import PARTITIONS_QUERY, free_port, graphql, stop, wait

    port = free_port()
    dagster = Path(sys.executable).parent / "dagster"
    with (work / "dagster-dev.log").open("wb") as log:
        server = subprocess.Popen(
            [str(dagster), "dev", "-h", "127.0.0.1", "-p", str(port), "-m", "qualia_pipelines.definitions"],
            cwd=work, env=environment, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
        try:
            wait(lambda: "data" in graphql(port, "{ version }"), 600, "the webserver")
            ticks = work / "dagster_home" / "schedules" / "schedules.db"
            wait(lambda: ticks.exists() and tick_rows(ticks)[0] > 0, 120, "the daemon's first tick")
            # no cursor yet: the first ticks recognise every file, 2,000 a tick (at 100,000 about 8 minutes)
            wait(lambda: inbox_sensor_caught_up(ticks), 1800, "the inbox sensor's look at every file")
            newest = tick_rows(ticks)[2]
            time.sleep(IDLE_S)
            rows, tick_bytes, _ = tick_rows(ticks, newest)
            figures = {
                "idle ticks per hour": rows * 3600 / IDLE_S,
                "idle tick bytes per hour": tick_bytes * 3600 / IDLE_S,
            }
            for attempt in ("cold", "warm"):
                spent, answer = timed(lambda: graphql(port, PARTITIONS_QUERY, {"key": ["transcript"]}))
                stats = answer["data"]["assetNodeOrError"]["partitionStats"]
                assert stats["numMaterialized"] == stats["numPartitions"], stats
                figures[f"partition status query ({attempt}) s"] = spent
            return figures
        finally:
            stop(server)


def inbox_sensor_caught_up(database: Path) -> bool:
    """Whether the daemon's newest skipped inbox sensor tick left no file to look at."""
    import sqlite3

    with sqlite3.connect(database) as db:
        newest = db.execute(
            "SELECT tick_body FROM job_ticks WHERE status = 'SKIPPED' AND tick_body LIKE '%\"inbox_sensor\"%' "
            "ORDER BY id DESC LIMIT 1"
        ).fetchone()
    return newest is not None and "more to look at" not in newest[0]


def tick_rows(database: Path, after_id: int = 0) -> tuple[int, int, int]:
    """The tick rows the daemon stored after row ``after_id``: how many, their bytes, and the newest id."""
    import sqlite3

    with sqlite3.connect(database) as db:
        return db.execute(
            "SELECT count(*), coalesce(sum(length(tick_body)), 0), coalesce(max(id), 0) FROM job_ticks WHERE id > ?",
            (after_id,),
        ).fetchone()


def listing_figures(instance: dg.DagsterInstance, inbox: Path) -> dict[str, float]:
    """A page of `GET /transcripts` (`transcript_page`, as the API calls it) against the baseline of the whole
    listing in one answer (every registered transcript's status), as the API answered before it paged."""
    qualia = QualiaResource(inbox=str(inbox), max_bytes=50 * 1024 * 1024)
    write_transcripts(inbox, LATE, "late")  # dropped, not registered by the sensor yet
    registered = RegisteredKeys()
    cold_s, _ = timed(lambda: registered.current(instance))
    first_s, (_, cursor) = timed(lambda: transcript_page(instance, qualia, registered, PAGE))
    next_s, _ = timed(lambda: transcript_page(instance, qualia, registered, PAGE, cursor))
    last = ListingCursor("received").encode()
    last_s, (late, _) = timed(lambda: transcript_page(instance, qualia, registered, PAGE, last))
    assert len(late) == LATE, "the files not registered yet were not listed"
    keys = sorted(instance.get_dynamic_partitions(TRANSCRIPTS.name))
    whole_s, _ = timed(lambda: registered_states(instance, qualia, keys))
    return {
        "whole listing in one answer s (baseline)": whole_s,
        f"first /transcripts page ({PAGE}) s": first_s,
        f"next /transcripts page ({PAGE}) s": next_s,
        "last page (files not registered yet) s": last_s,
        "registered keys, first read in a process s": cold_s,
    }


def read_figures(count: int) -> dict[str, float]:
    """Reading ``count`` stored records by name, against finding each by listing its folder (sampled)."""
    folder = Path(tempfile.mkdtemp(prefix=f"qualia-records-{count}-")) / "word_frequency"
    try:
        folder.mkdir()
        record = json.dumps({"values": {"top_words": [{"word": "reunião", "count": 3}] * 50}})
        stems = [f"meeting_{number:06d}" for number in range(count)]
        for stem in stems:
            (folder / f"{stem}.json").write_text(record, encoding="utf-8")
        read_s, _ = timed(lambda: [QualiaIOManager._read(folder, stem) for stem in stems])
        sample = stems[:: max(1, count // LISTING_SAMPLE)]
        listing_s, _ = timed(lambda: [json.loads(sorted(folder.glob(f"{stem}.*"))[0].read_text()) for stem in sample])
        return {
            "listing read of every record s (baseline)": listing_s * count / len(sample),
            "read every record s": read_s,
        }
    finally:
        shutil.rmtree(folder.parent, ignore_errors=True)


def store_figures(count: int) -> dict[str, float]:
    """The corpus refresh after a drop of 100 into a store of ``count`` meetings, in a child process."""
    command = [sys.executable, __file__, "--store-case", str(count)]
    done = subprocess.run(command, capture_output=True, text=True, timeout=3600, check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def store_case(count: int) -> dict[str, float]:
    """Build a store of ``count`` meetings, then time a refresh that takes in a drop of 100 (this process)."""
    import resource

    folder = Path(tempfile.mkdtemp(prefix=f"qualia-store-{count}-"))
    try:
        started = time.perf_counter()
        build_store(folder, count)
        build_s = time.perf_counter() - started
        store = CorpusStore(folder)
        drop = [meeting_facts(count + number) for number in range(DROP)]
        refresh_s, _ = timed(lambda: refresh(store, drop, folder / "tables"))
        rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
        size = sum(path.stat().st_size for path in folder.rglob("*.parquet"))
        return {"store build s (setup)": build_s, "corpus refresh after a drop of 100 s": refresh_s,
                "corpus refresh peak RSS MB": rss / 1e6, "corpus store MB": size / 1e6}  # fmt: skip
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def backup_figures(count: int) -> dict[str, float]:
    """The backup after a drop of 100 meetings into outputs of ``count``: seconds, bytes added, drop bytes.

    Every meeting leaves the files a real one-hour meeting leaves (names and folders), so restic lists as many
    entries per folder as it would; the meetings already backed up are small (their bytes were stored by an
    earlier night and cost this one nothing), the dropped ones have their real sizes, incompressible."""
    from qualia_pipelines.core.backup import create_backup

    layout = one_hour_outputs()["layout"]
    folder = Path(tempfile.mkdtemp(prefix=f"qualia-backup-{count}-"))
    try:
        outputs = folder / "outputs"
        write_meeting_outputs(outputs, range(count), layout, small=True)
        build_s, _ = timed(lambda: create_backup({"outputs": outputs}, folder / "backups"))
        before = folder_bytes(folder / "backups")
        dropped = write_meeting_outputs(outputs, range(count, count + DROP), layout)
        backup_s, _ = timed(lambda: create_backup({"outputs": outputs}, folder / "backups"))
        growth = (folder_bytes(folder / "backups") - before) / dropped
        return {"first backup s (setup)": build_s, "backup after a drop of 100 s": backup_s,
                "backup repository growth / drop bytes": growth, "drop bytes MB": dropped / 1e6}  # fmt: skip
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def folder_bytes(folder: Path) -> int:
    return sum(path.stat().st_size for path in folder.rglob("*") if path.is_file())


def write_meeting_outputs(outputs: Path, numbers: range, layout: dict[str, int], small: bool = False) -> int:
    """Each meeting's files as ``layout`` names them (``{key}`` its partition key) with random bytes: as many
    as the layout says, or 64 when ``small``. Returns the bytes written."""
    written = 0
    for number in numbers:
        key = f"meeting_{number:06d}.vtt"
        for name, size in layout.items():
            path = outputs / name.format(key=key)
            path.parent.mkdir(parents=True, exist_ok=True)
            written += path.write_bytes(os.urandom(64 if small else size))
    return written


def search_figures(count: int) -> dict[str, float]:
    """The search index's update after a drop of 100, and its query p95, at ``count`` meetings."""
    import random
    import statistics

    folder = Path(tempfile.mkdtemp(prefix=f"qualia-search-{count}-"))
    try:
        words = sorted({word.strip(".,:;!?()[]").lower() for word in SAMPLE.split() if word.isalpha()})
        index = SearchIndex(folder / "search.sqlite")
        rng = random.Random(7)
        started = time.perf_counter()
        for first in range(0, count, 500):
            index.apply(search_meeting(number, words, rng) for number in range(first, min(count, first + 500)))
        build_s = time.perf_counter() - started
        update_s, _ = timed(lambda: index.apply(search_meeting(count + n, words, rng) for n in range(DROP)))
        long_words = [word for word in words if len(word) >= 4]
        queries = [rng.choice(words) for _ in range(10)] + [f"{rng.choice(long_words)[:4]}*" for _ in range(10)]
        queries += [f'"{rng.choice(words)} {rng.choice(words)}"' for _ in range(10)]
        seconds, newest = [], 0
        for number, query in enumerate([*queries, *queries[:10]]):
            filters = SearchFilters(language="pt", since="2026-11-01") if number >= len(queries) else SearchFilters()
            spent, result = timed(lambda query=query, filters=filters: index.search(query, filters))
            seconds.append(spent)
            newest += result.order == "newest"
        p95 = statistics.quantiles(seconds, n=20)[-1]
        return {"search index build s (setup)": build_s, "search index update, drop of 100 s": update_s,
                "search query p95 s": p95, "searches answered newest first": newest}  # fmt: skip
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def search_meeting(number: int, words: list[str], rng: Any) -> Meeting:
    """A one-hour meeting for the search bench: 600 utterances of 12 words, 4 speakers."""
    utterances = [
        (f"Speaker {turn % 4}", turn * 6.0, " ".join(rng.choice(words) for _ in range(12))) for turn in range(600)
    ]
    return Meeting(f"meeting_{number:06d}", f"meeting_{number:06d}.vtt", "2026-11-03T14:00:00", "pt", utterances)


def refresh(store: CorpusStore, drop: list[TranscriptFacts], tables: Path) -> None:
    """What the corpus assets do after a drop: take it in, then compute and write the four tables."""
    store.apply(drop, cursor=1)
    tables.mkdir(exist_ok=True)
    for name in ("vocabulary", "distinctive_words", "sentiment_over_time", "participation"):
        getattr(store, name)().to_parquet(tables / f"{name}.parquet")


def meeting_counts(number: int) -> dict[str, int]:
    """One meeting's word counts: 1,200 distinct words, the i-th commonest said about 200 / (i + 1) times."""
    return {
        f"w{(number * 7919 + index * 104729) % WORD_POOL}": max(1, 200 // (index + 1)) for index in range(MEETING_WORDS)
    }


def meeting_facts(number: int) -> TranscriptFacts:
    speakers = [
        {"speaker": f"Speaker {number % 50 + seat}", "utterances": 40, "words": 2000, "talk_time_s": 900.0,
         "share_of_words": 0.25}
        for seat in range(4)
    ]  # fmt: skip
    mood = {"polarity": (number % 200 - 100) / 100, "sentiment_label": "neutral", "engine": "leia", "language": "pt",
            "statistics": {"share_positive": 0.3, "share_negative": 0.2, "segments": 400}}  # fmt: skip
    return TranscriptFacts(f"meeting_{number:06d}", meeting_counts(number), "2026-11-03T14:00:00", mood, speakers)


def build_store(folder: Path, count: int) -> None:
    """A store of ``count`` meetings in the documented layout, written by DuckDB (as ``meeting_facts`` would
    give them, without a Python object per word)."""
    import duckdb

    (folder / "word_counts").mkdir(parents=True)
    words = f"(SELECT t, i FROM range({count}) a(t), range({MEETING_WORDS}) b(i))"
    rows = (
        f"SELECT 1::BIGINT AS batch, 'meeting_' || lpad(t::VARCHAR, 6, '0') AS transcript, "
        f"'w' || ((t * 7919 + i * 104729) % {WORD_POOL}) AS word, greatest(1, 200 // (i + 1))::BIGINT AS count "
        f"FROM {words}"
    )
    counts = sorted(meeting_counts(0).values(), reverse=True)  # every meeting has the same counts
    total, tenth = sum(counts), counts[TOP_DISTINCTIVE - 1]
    with duckdb.connect(config={"threads": 2, "memory_limit": "1GB", "preserve_insertion_order": False}) as db:
        db.execute(f"COPY ({rows}) TO '{folder / 'word_counts' / 'batch-1.parquet'}' (FORMAT parquet)")
        db.execute(
            f"COPY (SELECT word, sum(count)::BIGINT AS count, count(*)::BIGINT AS transcripts FROM "
            f"'{folder / 'word_counts' / 'batch-1.parquet'}' GROUP BY word) TO '{folder / 'vocabulary-1.parquet'}'"
        )
        db.execute(
            f"COPY (SELECT 'meeting_' || lpad(t::VARCHAR, 6, '0') AS transcript, true AS counted, 1::BIGINT AS batch, "
            f"{total}::BIGINT AS words, {MEETING_WORDS}::BIGINT AS distinct_words, {tenth}::BIGINT AS tenth_count, "
            "TIMESTAMPTZ '2026-11-03 14:00:00+00' AS date, 'pt' AS language, (t % 200 - 100) / 100 AS polarity, "
            "'neutral' AS label, 0.3 AS share_positive, 0.2 AS share_negative, 400::BIGINT AS segments, "
            f"'leia' AS engine FROM range({count}) a(t)) TO '{folder / 'transcripts-1.parquet'}'"
        )
        db.execute(
            "COPY (SELECT 'meeting_' || lpad(t::VARCHAR, 6, '0') AS transcript, 'Speaker ' || (t % 50 + s) AS speaker,"
            " 40::BIGINT AS utterances, 2000::BIGINT AS words, 900.0 AS talk_time_s, 0.25 AS share_of_words "
            f"FROM range({count}) a(t), range(4) b(s)) TO '{folder / 'speakers-1.parquet'}'"
        )
    state = {"generation": 1, "cursor": 0, "batches": {"1": count * MEETING_WORDS}}
    (folder / "state.json").write_text(json.dumps(state), encoding="utf-8")


@cache
def one_hour_outputs() -> dict[str, Any]:
    """What two one-hour meetings (pt and en) leave in the outputs through `qualia run` on a fresh instance:
    the bytes per meeting, the bytes written once per outputs folder (the shared plotly.js copies, corpus
    tables), and the pt meeting's files (path below the outputs with ``{key}`` for its key -> bytes)."""
    from engine import build_vtt

    work = Path(tempfile.mkdtemp(prefix="qualia-outputs-"))
    try:
        inbox = work / "data" / "inbox"
        inbox.mkdir(parents=True)
        keys = [build_vtt(inbox / f"hour_{language}.vtt", 60_000, language).name for language in ("pt", "en")]
        environment = {**os.environ, "DAGSTER_HOME": str(work / "dagster_home"), "QUALIA_DATA_DIR": str(work / "data")}
        (work / "dagster_home").mkdir()
        qualia = Path(sys.executable).with_name("qualia")
        subprocess.run([str(qualia), "run"], cwd=work, env=environment, check=True, capture_output=True, timeout=600)
        outputs = work / "data" / "outputs"
        files = [path for path in outputs.rglob("*") if path.is_file()]
        layout = {
            str(path.relative_to(outputs)).replace(keys[0], "{key}"): path.stat().st_size
            for path in files
            if path.name.startswith(keys[0])
        }
        return {
            "per meeting": sum(path.stat().st_size for path in files if path.name.startswith(tuple(keys))) / len(keys),
            "shared": sum(path.stat().st_size for path in files if not path.name.startswith(tuple(keys))),
            "layout": layout,
        }
    finally:
        shutil.rmtree(work, ignore_errors=True)


PARTS: dict[str, Callable[[int], dict[str, float]]] = {
    "dagster": dagster_figures,
    "records": read_figures,
    "store": store_figures,
    "backup": backup_figures,
    "search": search_figures,
}


def measure(count: int, only: str | None) -> dict[str, float]:
    figures: dict[str, float] = {}
    for name, part in PARTS.items():
        if only in (None, name):
            figures.update(part(count))
    return figures


def growth_exponent(values: list[float], sizes: list[int]) -> str:
    """How the figure grows between the smallest and the largest N (1 = linear, 0 = flat)."""
    if len(sizes) < 2:
        return "-"
    return f"{math.log(max(values[-1], 1e-9) / max(values[0], 1e-9)) / math.log(sizes[-1] / sizes[0]):.2f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 10000], help="inbox sizes (default 1000 10000)")
    parser.add_argument("--big", action="store_true", help="add N = 100,000 (about 15 minutes on 2 cores)")
    parser.add_argument("--only", choices=list(PARTS), help="measure only one part")
    parser.add_argument("--store-case", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.store_case:
        print(json.dumps(store_case(args.store_case)))
        return
    sizes = [*args.sizes, *([100_000] if args.big else [])]
    results = {}
    for count in sizes:
        started = time.perf_counter()
        results[count] = measure(count, args.only)
        print(f"N = {count:,}: measured in {time.perf_counter() - started:.0f} s", file=sys.stderr, flush=True)
    names = list(results[sizes[0]])
    print(f"{'figure':<44}" + "".join(f"{f'N={count:,}':>14}" for count in sizes) + f"{'growth':>9}")
    for name in names:
        values = [results[count][name] for count in sizes]
        shown = "".join(f"{value:>14,.0f}" if value >= 100 else f"{value:>14.3f}" for value in values)
        print(f"{name:<44}{shown}{growth_exponent(values, sizes):>9}")
    if args.only:
        return
    real = one_hour_outputs()
    per_meeting, shared = real["per meeting"], real["shared"]
    print(
        f"outputs per one-hour meeting: {per_meeting / 1000:.0f} KB (target <= 600 KB); once per outputs folder: "
        f"{shared / 1e6:.1f} MB (plotly.js beside the charts and reports, corpus tables)"
    )
    for count in sizes:
        figures = results[count]
        cursor = figures["cursor bytes"] / figures["ledger cursor bytes (baseline)"]
        reads = figures["read every record s"] / figures["listing read of every record s (baseline)"]
        page = figures[f"next /transcripts page ({PAGE}) s"] / figures["whole listing in one answer s (baseline)"]
        print(
            f"N = {count:,}: cursor {cursor:.4f}x the ledger's; reading every record {reads:.3f}x the listing's; "
            f"a /transcripts page {page:.4f}x the whole listing"
        )


if __name__ == "__main__":
    main()
