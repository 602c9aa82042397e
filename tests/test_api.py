"""The REST API through FastAPI's test client, on the real engine and the sample transcripts."""

from __future__ import annotations

import asyncio
import hashlib
import http.client
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient

from qualia_pipelines.api.app import create_app, params_by_plugin
from qualia_pipelines.api.limits import safe_file_name
from qualia_pipelines.core.engine import Engine
from qualia_pipelines.core.settings import Settings
from tests.conftest import SAMPLES

RETRO = "[00:01] Ana: O deploy foi ótimo, adorei a nova integração.\n[00:09] Rafael: A documentação ficou confusa.\n"


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    with TestClient(create_app(Settings(data_dir=tmp_path_factory.mktemp("data"), max_file_mb=1))) as client:
        yield client


def test_root_and_plugin_metadata_come_from_the_plugins(client: TestClient) -> None:
    root = client.get("/").json()
    assert root["name"] == "Qualia Pipelines" and root["links"]["docs"] == "/docs"
    listed = {plugin["id"]: plugin for plugin in client.get("/plugins").json()}
    assert {"teams_cleaner", "word_frequency", "sentiment_analyzer", "wordcloud_viz"} <= set(listed)
    one = client.get("/plugins/word_frequency").json()
    max_words = one["parameters_schema"]["properties"]["max_words"]
    assert max_words["type"] == "integer" and max_words["default"] == 100 and one["kind"] == "analyzer"
    missing = client.get("/plugins/nope")
    assert missing.status_code == 404 and "unknown plugin 'nope'" in missing.json()["error"]


def test_analyze_text_gives_the_engines_numbers(client: TestClient) -> None:
    answer = client.post("/analyze/word_frequency", json={"text": RETRO, "parameters": {"max_words": 5}})
    assert answer.status_code == 200, answer.text
    record = answer.json()
    assert record["parameters"]["max_words"] == 5 and len(record["values"]["top_words"]) <= 5
    assert record["content_hash"] == hashlib.sha256(RETRO.encode()).hexdigest()
    mood = client.post("/analyze/sentiment_analyzer", json={"text": RETRO}).json()["values"]["sentiment"]
    assert mood["engine"] == "leia" and len(mood["segment_sentiments"]) == 2


def test_upload_gives_the_same_numbers_as_the_engine_on_the_file(client: TestClient) -> None:
    path = SAMPLES["vtt_pt"]
    with path.open("rb") as handle:
        answer = client.post(
            "/analyze/word_frequency", files={"file": (path.name, handle, "text/vtt")}, data={"max_words": "10"}
        )
    assert answer.status_code == 200, answer.text
    expected = Engine().run_file("word_frequency", path, {"word_frequency": {"max_words": 10}})
    assert answer.json()["values"]["top_words"] == expected.to_dict()["values"]["top_words"]
    assert answer.json()["source"] == path.name


def test_parameters_of_dependencies_and_bad_parameters(client: TestClient) -> None:
    deep = client.post(
        "/analyze/word_frequency", json={"text": RETRO, "parameters": {"teams_cleaner.min_utterance_words": 1}}
    )
    assert deep.status_code == 200
    assert deep.json()["provenance"][0]["parameters"]["min_utterance_words"] == 1
    bad = client.post("/analyze/word_frequency", json={"text": RETRO, "parameters": {"max_words": "many"}})
    assert bad.status_code == 400 and "max_words" in bad.json()["error"]
    assert params_by_plugin("x", {"a": 1, "y.b": 2}) == {"x": {"a": 1}, "y": {"b": 2}}


def test_process_and_visualize_return_the_right_content(client: TestClient) -> None:
    cleaned = client.post("/process/teams_cleaner", json={"text": RETRO}).json()
    assert [row["speaker"] for row in cleaned["values"]["speakers"]] == ["Ana", "Rafael"]
    png = client.post("/visualize/wordcloud_viz", json={"text": RETRO})
    assert png.headers["content-type"] == "image/png" and png.content.startswith(b"\x89PNG")
    svg = client.post("/visualize/wordcloud_viz", json={"text": RETRO, "parameters": {"format": "svg"}})
    assert svg.headers["content-type"].startswith("image/svg+xml") and b"<svg" in svg.content
    wrong = client.post("/analyze/wordcloud_viz", json={"text": RETRO})
    assert wrong.status_code == 400 and "use POST /visualize/wordcloud_viz" in wrong.json()["error"]


def test_pipeline_runs_ordered_steps(client: TestClient) -> None:
    body = {
        "text": RETRO,
        "steps": [
            {"plugin": "teams_cleaner", "parameters": {"min_utterance_words": 1}},
            {"plugin": "word_frequency", "parameters": {"max_words": 3}},
            {"plugin": "wordcloud_viz"},
        ],
    }
    answer = client.post("/pipeline", json=body).json()
    assert answer["steps"] == ["teams_cleaner", "word_frequency", "wordcloud_viz"]
    assert len(answer["results"]["word_frequency"]["values"]["top_words"]) == 3
    assert answer["results"]["wordcloud_viz"]["wordcloud"]["media_type"] == "image/png"
    twice = client.post("/pipeline", json={"text": RETRO, "steps": [{"plugin": "x"}, {"plugin": "x"}]})
    assert twice.status_code == 400 and "appears twice" in twice.json()["error"]


def test_bad_uploads_are_refused_with_a_message(client: TestClient) -> None:
    def upload(name: str, data: bytes) -> dict:
        answer = client.post("/analyze/word_frequency", files={"file": (name, data, "application/octet-stream")})
        assert answer.status_code in (400, 413), answer.text
        return answer.json()

    assert "the file is empty" in upload("empty.vtt", b"")["error"]
    assert "PNG image" in upload("photo.vtt", b"\x89PNG\r\n\x1a\n" + b"\0" * 100)["error"]
    assert "over the limit" in upload("big.txt", b"a: b\n" * 400_000)["error"]
    traversal = upload("../../etc/passwd.exe", b"Ana: oi")["error"]
    assert traversal.startswith("passwd.exe") and ".." not in traversal
    assert safe_file_name("..\\..\\secret\\notes.txt") == "notes.txt"
    missing = client.post("/analyze/word_frequency", json={"parameters": {}})
    assert missing.status_code == 422 and "text" in missing.json()["error"]
    broken = client.post("/analyze/word_frequency", content=b"{not json", headers={"content-type": "application/json"})
    assert broken.status_code == 422 and "error" in broken.json()


def test_openapi_documents_both_request_bodies(client: TestClient) -> None:
    schema = client.get("/openapi.json").json()
    body = schema["paths"]["/analyze/{plugin_id}"]["post"]["requestBody"]["content"]
    assert {"application/json", "multipart/form-data"} <= set(body)
    assert client.get("/docs").status_code == 200


def test_qualia_serve_answers_on_loopback_and_refuses_other_addresses(tmp_path: Path) -> None:
    qualia = Path(sys.executable).parent / "qualia"
    refused = subprocess.run([str(qualia), "serve", "--host", "0.0.0.0"], capture_output=True, text=True, timeout=60)
    assert refused.returncode == 1 and "API keys are required" in refused.stderr
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = subprocess.Popen(
        [str(qualia), "serve", "--port", str(port)],
        cwd=tmp_path,
        start_new_session=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/plugins/word_frequency", timeout=5) as answer:
                    assert json.loads(answer.read())["id"] == "word_frequency"
                    break
            except OSError:
                assert time.monotonic() < deadline, "qualia serve did not answer within 60 s"
                time.sleep(0.5)
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=30)


def answering_pid(connection: http.client.HTTPConnection) -> int:
    """The pid of the worker that answers on this connection (from one event of the live counters)."""
    connection.request("GET", "/health/stream?events=1")
    answer = connection.getresponse()
    event = answer.read().decode()
    assert answer.status == 200, event
    return json.loads(event.split("data: ", 1)[1])["pid"]


@pytest.mark.skipif(sys.platform != "linux", reason="per-worker listening sockets (SO_REUSEPORT) are used on Linux")
def test_qualia_serve_spreads_a_burst_of_connections_over_its_workers(tmp_path: Path) -> None:
    qualia = Path(sys.executable).parent / "qualia"
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    command = [str(qualia), "serve", "--port", str(port), "--workers", "2"]
    server = subprocess.Popen(
        command,
        cwd=tmp_path,
        env={**os.environ, "QUALIA_RATE_LIMIT_PER_MINUTE": "0"},  # the burst is one client: no 429s
        start_new_session=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        workers: set[int] = set()
        deadline = time.monotonic() + 120
        while len(workers) < 2:  # both workers up: new connections reach each of them
            assert time.monotonic() < deadline, f"only workers {workers} answered within 120 s"
            try:
                workers.add(answering_pid(http.client.HTTPConnection("127.0.0.1", port, timeout=10)))
            except OSError:
                time.sleep(0.5)
        burst = [http.client.HTTPConnection("127.0.0.1", port, timeout=30) for _ in range(40)]
        for connection in burst:
            connection.connect()  # all open before any request: the split is made at connect time
        answered = Counter(answering_pid(connection) for connection in burst)
        assert set(answered) == workers and min(answered.values()) >= 8, answered  # one worker never gets them all
        second = subprocess.run(command, cwd=tmp_path, capture_output=True, text=True, timeout=60)
        assert second.returncode == 1 and f"--port {port}: cannot listen" in second.stderr  # no silent sharing
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=30)


THREAD_PROBE = """
import threading
import time

from qualia_pipelines.core.contract import Parameter, Plugin


def run(inputs, params):
    time.sleep(params["seconds"])
    return {"thread": threading.current_thread().name}


plugin = Plugin(
    "thread_probe", "analyzer", "1", "Names the thread that ran it, after taking the seconds asked for.",
    ("cleaned_document",), ("thread",), run, parameters=(Parameter("seconds", "float", 0.0, minimum=0),),
)
"""


def test_quick_text_analyses_run_on_the_event_loop_and_slow_ones_never_hold_it_up(tmp_path: Path) -> None:
    plugins = tmp_path / "plugins"
    plugins.mkdir()
    (plugins / "thread_probe.py").write_text(THREAD_PROBE)

    async def threads_and_longest_pause(seconds: float) -> tuple[list[str], float]:
        """Three runs of the probe, one after the other, while ``GET /`` is asked every 20 ms."""
        app = create_app(Settings(data_dir=tmp_path / f"data-{seconds}", plugin_dirs=[plugins]))
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://qualia") as client:

            async def probes() -> list[str]:
                body = {"text": RETRO, "parameters": {"seconds": seconds}}
                answers = [await client.post("/analyze/thread_probe", json=body, timeout=30) for _ in range(3)]
                return [answer.json()["values"]["thread"] for answer in answers]

            runs = asyncio.create_task(probes())
            await asyncio.sleep(0)  # the first run starts before the polling
            pauses = []
            while not runs.done():
                asked = time.perf_counter()
                assert (await client.get("/")).status_code == 200
                pauses.append(time.perf_counter() - asked)
                await asyncio.sleep(0.02)
            return await runs, max(pauses, default=0.0)

    loop_thread = threading.current_thread().name  # asyncio.run keeps the event loop on this thread
    quick, _ = asyncio.run(threads_and_longest_pause(0.0))
    assert quick[0] != loop_thread  # no timing known yet (and a first run loads models): the worker thread
    assert quick[2] == loop_thread  # the run before took milliseconds: on the event loop
    slow, longest_pause = asyncio.run(threads_and_longest_pause(0.4))
    assert loop_thread not in slow  # 0.4 s runs stay on the worker thread
    assert longest_pause < 0.2  # and the loop kept answering while they ran
