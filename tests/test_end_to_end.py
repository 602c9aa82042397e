"""End to end: `dagster dev` (webserver + daemon) on 127.0.0.1, a file dropped in the inbox, assets seen via GraphQL."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from tests.conftest import SAMPLES, stop_group

QUERY = """
query ($partition: String!) {
  assetOrError(assetKey: {path: ["report"]}) {
    ... on Asset { assetMaterializations(partitions: [$partition]) { partition runId } }
  }
}
"""


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def graphql(port: int, query: str, variables: dict | None = None) -> dict:
    body = json.dumps({"query": query, "variables": variables or {}}).encode()
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/graphql", data=body, headers={"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.loads(response.read())


def wait_until(predicate, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if predicate():
                return
        except OSError:
            pass
        time.sleep(1)
    raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}")


@pytest.mark.slow
def test_a_dropped_file_is_materialized_by_the_daemon(tmp_path: Path) -> None:
    data, home, port = tmp_path / "data", tmp_path / "dagster_home", free_port()
    (data / "inbox").mkdir(parents=True)
    home.mkdir()
    environment = {
        **os.environ,
        "DAGSTER_HOME": str(home),
        "QUALIA_DATA_DIR": str(data),
        "QUALIA_SENSOR_INTERVAL_S": "2",
    }
    dagster = Path(sys.executable).parent / "dagster"
    log = (tmp_path / "dagster-dev.log").open("wb")
    server = subprocess.Popen(
        [str(dagster), "dev", "-h", "127.0.0.1", "-p", str(port), "-m", "qualia_pipelines.definitions"],
        cwd=tmp_path,
        env=environment,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        wait_until(lambda: "data" in graphql(port, "{ version }"), 120, "the webserver")
        shutil.copy(SAMPLES["txt_pt"], data / "inbox" / "retro_pt.txt")

        def materialized() -> bool:
            result = graphql(port, QUERY, {"partition": "retro_pt.txt"})
            return bool(result["data"]["assetOrError"].get("assetMaterializations"))

        wait_until(materialized, 240, "the report of the dropped transcript")
        report = data / "outputs" / "report" / "retro_pt.txt.html"
        assert "Marina Lopes" in report.read_text(encoding="utf-8")
        sentiment = json.loads((data / "outputs" / "sentiment_analyzer" / "retro_pt.txt.json").read_text())
        assert sentiment["values"]["sentiment"]["engine"] == "leia"
    finally:
        stop_group(server)
        log.close()
