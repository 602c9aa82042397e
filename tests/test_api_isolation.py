"""One hostile request cannot stall anyone else's: a real `qualia serve --workers 2` on 127.0.0.1.

The work runs in engine processes under a deadline; the server process only reads requests and sends
answers, so it keeps answering while every engine is busy, and an engine that overruns or dies costs
only the request it had.
"""

from __future__ import annotations

import json
import os
import signal
import statistics
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from tests.conftest import MULTIPART, SAMPLES, multipart_file, qualia_serve

pytestmark = pytest.mark.slow

# Backtracking regexes in C, as a hostile input would run them: each call holds the interpreter lock.
SPIN = """
import os
import re
import time

from qualia_pipelines.core.contract import Parameter, Plugin

_CATASTROPHIC = re.compile(r"(x+x+)+y")


def run(inputs, params):
    end = time.monotonic() + params["seconds"]
    while time.monotonic() < end:
        _CATASTROPHIC.fullmatch("x" * 18)
    return {"pid": os.getpid()}


plugin = Plugin(
    "spin", "analyzer", "1", "Backtracks in a regex for the seconds asked for, then names its process.",
    ("cleaned_document",), ("pid",), run, parameters=(Parameter("seconds", "float", 0.0, minimum=0),),
)
"""
TEXT = "[00:01] Ana: O deploy foi ótimo.\n[00:09] Rafael: A documentação ficou confusa.\n"


def post(port: int, path: str, body: bytes, content_type: str = "application/json") -> tuple[int, dict]:
    request = urllib.request.Request(f"http://127.0.0.1:{port}{path}", body, {"content-type": content_type})
    try:
        with urllib.request.urlopen(request, timeout=120) as answer:
            return answer.status, json.loads(answer.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def spin(port: int, seconds: float) -> tuple[int, dict]:
    return post(port, "/analyze/spin", json.dumps({"text": TEXT, "parameters": {"seconds": seconds}}).encode())


def health_seconds(port: int) -> float:
    started = time.monotonic()
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=30) as answer:
        answer.read()
    return time.monotonic() - started


def engine_pids(port: int) -> list[int]:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=30) as answer:
        return [int(pid) for pid in json.loads(answer.read())["counters"]["engines"]]


@pytest.fixture
def server(tmp_path: Path):
    plugins = tmp_path / "plugins"
    plugins.mkdir()
    (plugins / "spin.py").write_text(SPIN)
    environment = {
        "QUALIA_PLUGIN_PATH": str(plugins),
        "QUALIA_RATE_LIMIT_PER_MINUTE": "0",
        "QUALIA_WORK_TIMEOUT_S": "6",
    }
    with qualia_serve(tmp_path, "--workers", "2", env=environment) as port:
        yield port


def test_health_answers_while_every_engine_is_busy_with_hostile_work(server: int) -> None:
    health_seconds(server)  # the instance's first health query, before the clock matters
    with ThreadPoolExecutor(2) as clients:
        busy = [clients.submit(spin, server, 4.0) for _ in range(2)]
        time.sleep(1.0)  # both engines are backtracking now
        during = []
        for _ in range(10):
            during.append(health_seconds(server))
            time.sleep(0.1)
        answers = [future.result() for future in busy]
    assert [status for status, _ in answers] == [200, 200]
    assert len({answer["values"]["pid"] for _, answer in answers}) == 2  # one per engine: both were busy
    assert statistics.median(during) < 0.1 and max(during) < 1.0, during


def test_an_overrun_costs_only_its_own_request_and_its_engine_is_replaced(server: int) -> None:
    before = set(engine_pids(server))
    with ThreadPoolExecutor(2) as clients:
        overrun = clients.submit(spin, server, 30.0)  # the server's work limit is 6 s
        time.sleep(0.5)
        quick = [spin(server, 0.2) for _ in range(5)]  # all on the other engine meanwhile
        status, answer = overrun.result()
    assert status == 503 and "6 s work limit" in answer["error"], answer
    assert [code for code, _ in quick] == [200] * 5
    assert {body["values"]["pid"] for _, body in quick} < before  # the other engine, untouched
    deadline = time.monotonic() + 60
    while len(set(engine_pids(server)) - before) < 1:  # a new engine took the stopped one's place
        assert time.monotonic() < deadline, "no engine replaced the stopped one"
        time.sleep(0.5)
    assert [spin(server, 0.1)[0] for _ in range(4)] == [200] * 4


def test_a_killed_engine_fails_only_its_own_request(server: int) -> None:
    with ThreadPoolExecutor(2) as clients:
        doomed = clients.submit(spin, server, 8.0)
        time.sleep(0.5)
        other = spin(server, 0.0)[1]["values"]["pid"]  # the engine that is free while the doomed one spins
        survivor = clients.submit(spin, server, 3.0)
        time.sleep(1.0)
        os.kill(next(pid for pid in engine_pids(server) if pid != other), signal.SIGKILL)
        lost_status, lost = doomed.result()
        status, answer = survivor.result()
    assert lost_status == 503 and "engine process stopped" in lost["error"], lost
    assert status == 200 and answer["values"]["pid"] == other  # the other engine's request went on
    assert spin(server, 0.0)[0] == 200


def test_an_upload_is_read_in_an_engine_under_the_work_limit(tmp_path: Path) -> None:
    """A transcript too slow to read within the limit (1.5 million turns: ~2 s): 503 for it, while the
    server keeps answering; small ones before it pass."""
    turns = "".join(f"[{n // 3600:02d}:{n // 60 % 60:02d}:{n % 60:02d}] A: b\n" for n in range(1_500_000))
    environment = {"QUALIA_RATE_LIMIT_PER_MINUTE": "0", "QUALIA_WORK_TIMEOUT_S": "1"}
    with qualia_serve(tmp_path, "--workers", "2", env=environment) as port:
        body = multipart_file("long.txt", turns.encode())
        # engines load the language model at their start, so a first small upload is read well within 1 s
        small = multipart_file("short.txt", SAMPLES["txt_pt"].read_bytes())
        for _ in range(2):
            assert post(port, "/transcripts", small, MULTIPART)[0] == 202
        with ThreadPoolExecutor(1) as clients:
            upload = clients.submit(post, port, "/transcripts", body, MULTIPART)
            during = [health_seconds(port) for _ in range(3)]
            status, answer = upload.result()
        assert status == 503 and "work limit" in answer["error"], answer
        assert max(during) < 1.0, during
        assert not (tmp_path / "data" / "inbox" / "long.txt").exists(), "a refused upload never reaches the inbox"
