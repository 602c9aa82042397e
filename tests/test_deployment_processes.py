"""The compose topology on a real PostgreSQL instance: code server, webserver and daemon as separate processes.

A transcript dropped in the inbox is picked up by the daemon's sensor and run
through the code server, and the corpus is refreshed after it. Mid-run the daemon and the run worker are killed
(SIGKILL, as a crashed machine would): the code server detects the dead run
and marks it failed, the restarted daemon retries it, and every output ends
up complete, with no half-written file left behind.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import dagster as dg
import pandas as pd
import pytest

from tests.conftest import SAMPLES, stop_group
from tests.test_end_to_end import free_port, graphql, wait_until

SLOW = """
import os, time
from qualia_pipelines.core.contract import Plugin
def run(inputs, params):
    while os.path.exists(os.environ["QUALIA_TEST_HOLD"]):  # held until the test lets it go
        time.sleep(0.2)
    return {"slow_value": len(inputs["cleaned_document"]["segments"])}
plugin = Plugin("slow", "analyzer", "1", "Waits while a flag file exists.", ("cleaned_document",),
                ("slow_value",), run)
"""
BIN = Path(sys.executable).parent


class Processes:
    """Long-running commands, each in its own process group, stopped by group at the end."""

    def __init__(self, folder: Path, env: dict[str, str]) -> None:
        self.folder, self.env, self.groups = folder, env, {}

    def start(self, name: str, *command: str) -> subprocess.Popen:
        log = (self.folder / f"{name}.log").open("ab")
        process = subprocess.Popen(
            command, cwd=self.folder, env=self.env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
        self.groups[name] = process
        return process

    def kill(self, name: str, sig: int = signal.SIGKILL) -> None:
        process = self.groups.pop(name)
        try:
            os.killpg(process.pid, sig)
        except ProcessLookupError:
            return
        process.wait(timeout=30)

    def stop_all(self) -> None:
        """SIGTERM to each group, SIGKILL to a group still running 30 s later (a loaded machine)."""
        for name in list(self.groups):
            stop_group(self.groups.pop(name))

    def logs(self) -> str:
        return "\n".join(f"--- {p.name}\n{p.read_text(errors='replace')[-3000:]}" for p in self.folder.glob("*.log"))


@pytest.fixture
def deployment(postgres_home: Path, tmp_path: Path) -> Iterator[tuple[Processes, Path, int]]:
    """Code server, webserver and daemon on 127.0.0.1, as docker-compose.yml runs them, on the Postgres instance."""
    data, plugins, hold = tmp_path / "data", tmp_path / "plugins", tmp_path / "hold"
    (data / "inbox").mkdir(parents=True)
    plugins.mkdir()
    (plugins / "slow.py").write_text(textwrap.dedent(SLOW))
    hold.touch()
    code_port, web_port = free_port(), free_port()
    (tmp_path / "workspace.yaml").write_text(
        f"load_from:\n  - grpc_server:\n      host: 127.0.0.1\n      port: {code_port}\n      location_name: qualia\n"
    )
    env = {
        **os.environ,
        "QUALIA_DATA_DIR": str(data),
        "QUALIA_PLUGIN_PATH": str(plugins),
        "QUALIA_SENSOR_INTERVAL_S": "2",
        "QUALIA_TEST_HOLD": str(hold),
    }
    processes = Processes(tmp_path, env)
    code = ("code-server", "start", "-h", "127.0.0.1", "-p", str(code_port), "-m", "qualia_pipelines.definitions")
    processes.start("code", str(BIN / "dagster"), *code)
    processes.start("webserver", str(BIN / "dagster-webserver"), "-h", "127.0.0.1", "-p", str(web_port),
                    "-w", "workspace.yaml")  # fmt: skip
    processes.start("daemon", str(BIN / "dagster-daemon"), "run", "-w", "workspace.yaml")
    try:
        wait_until(lambda: "data" in graphql(web_port, "{ version }"), 180, "the webserver")
        yield processes, data, web_port
    except BaseException:
        print(processes.logs())
        raise
    finally:
        processes.stop_all()


def worker_pid(instance: dg.DagsterInstance, run_id: str) -> int | None:
    for entry in instance.all_logs(run_id, of_type=dg.DagsterEventType.ENGINE_EVENT):
        found = re.search(r"Started process for run \(pid: (\d+)\)", entry.message or "")
        if found:
            return int(found.group(1))
    return None


def step_started(instance: dg.DagsterInstance, run_id: str, step: str) -> bool:
    return any(e.step_key == step for e in instance.all_logs(run_id, of_type=dg.DagsterEventType.STEP_START))


def process_run(instance: dg.DagsterInstance) -> dg.DagsterRun | None:
    runs = instance.get_runs(dg.RunsFilter(job_name="process_transcripts"))
    return runs[-1] if runs else None  # the oldest: the sensor's first run


@pytest.mark.slow
def test_a_daemon_killed_mid_run_is_recovered_with_no_half_written_output(
    deployment: tuple[Processes, Path, int],
) -> None:
    processes, data, _ = deployment
    shutil.copy(SAMPLES["txt_pt"], data / "inbox" / "retro_pt.txt")
    hold = Path(processes.env["QUALIA_TEST_HOLD"])
    with dg.DagsterInstance.get() as instance:
        wait_until(lambda: process_run(instance) is not None, 120, "the sensor's run")
        run = process_run(instance)
        wait_until(lambda: step_started(instance, run.run_id, "slow"), 180, "the run to reach the slow step")
        pid = worker_pid(instance, run.run_id)
        assert pid, "the code server did not report the run worker's pid"

        processes.kill("daemon")  # the machine "crashes": daemon and run worker die at once
        os.kill(pid, signal.SIGKILL)
        wait_until(lambda: instance.get_run_by_id(run.run_id).is_failure, 60, "the dead run to be detected")
        crash = [e.message for e in instance.all_logs(run.run_id, of_type=dg.DagsterEventType.ENGINE_EVENT)]
        assert any("Run execution process" in (message or "") for message in crash), crash
        outputs = data / "outputs"
        assert not (outputs / "slow" / "retro_pt.txt.json").exists()  # the killed step left no result

        hold.unlink()
        processes.start("daemon", str(BIN / "dagster-daemon"), "run", "-w", "workspace.yaml")
        retry_filter = dg.RunsFilter(tags={"dagster/parent_run_id": run.run_id})
        wait_until(
            lambda: any(r.status == dg.DagsterRunStatus.SUCCESS for r in instance.get_runs(retry_filter)),
            180,
            "the retried run to succeed",
        )
        [retry] = instance.get_runs(retry_filter)
        assert retry.tags["dagster/retry_number"] == "1"
        assert instance.get_materialized_partitions(dg.AssetKey("slow")) == {"retro_pt.txt"}
        assert instance.get_materialized_partitions(dg.AssetKey("report")) == {"retro_pt.txt"}
        wait_until(  # the corpus sensor refreshes the corpus once nothing else runs
            lambda: instance.get_latest_materialization_event(dg.AssetKey("corpus_vocabulary")) is not None,
            120,
            "the corpus refresh",
        )

    assert json.loads((outputs / "slow" / "retro_pt.txt.json").read_text())["values"]["slow_value"] > 0
    for path in outputs.rglob("*"):
        assert not path.name.endswith(".tmp"), f"half-written file left behind: {path}"
        if path.suffix == ".json":
            json.loads(path.read_text(encoding="utf-8"))
        elif path.suffix == ".parquet":
            pd.read_parquet(path)
    assert (outputs / "report" / "retro_pt.txt.html").read_text(encoding="utf-8").rstrip().endswith("</html>")
