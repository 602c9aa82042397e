"""The REST API through FastAPI's test client, on the real engine and the sample transcripts."""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient

from qualia_pipelines.api.app import create_app
from qualia_pipelines.api.engines import ENGINE_NICENESS, params_by_plugin
from qualia_pipelines.api.limits import safe_file_name
from qualia_pipelines.core.engine import Engine
from qualia_pipelines.core.settings import Settings
from tests.conftest import FAILING, SAMPLES

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


def engine_runs(port: int) -> dict[str, int]:
    """Analyses answered so far by each engine process of a server (from one event of the live counters)."""
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/health/stream?events=1", timeout=30) as answer:
        return json.loads(answer.read().decode().split("data: ", 1)[1])["engines"]


def test_qualia_serve_hands_each_request_to_the_next_free_engine_process(tmp_path: Path) -> None:
    """Four concurrent 1 s runs on two engine processes: each engine takes the next as it frees, two each."""
    plugins = tmp_path / "plugins"
    plugins.mkdir()
    (plugins / "thread_probe.py").write_text(THREAD_PROBE)
    qualia = Path(sys.executable).parent / "qualia"
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    command = [str(qualia), "serve", "--port", str(port), "--workers", "2"]
    server = subprocess.Popen(
        command,
        cwd=tmp_path,
        env={**os.environ, "QUALIA_RATE_LIMIT_PER_MINUTE": "0", "QUALIA_PLUGIN_PATH": str(plugins)},
        start_new_session=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 120
        while True:  # the server answers once both engines have started
            try:
                engines = engine_runs(port)
                break
            except OSError:
                assert time.monotonic() < deadline, "qualia serve did not answer within 120 s"
                time.sleep(0.5)
        assert len(engines) == 2 and set(engines.values()) == {0}, engines
        body = json.dumps({"text": RETRO, "parameters": {"seconds": 1.0}}).encode()

        def probe() -> int:
            with urllib.request.urlopen(
                urllib.request.Request(
                    f"http://127.0.0.1:{port}/analyze/thread_probe", body, {"content-type": "application/json"}
                ),
                timeout=30,
            ) as answer:
                return answer.status

        with ThreadPoolExecutor(4) as clients:
            statuses = list(clients.map(lambda _: probe(), range(4)))
        assert statuses == [200] * 4
        assert sorted(engine_runs(port).values()) == [2, 2]  # per request, not per connection: both took two
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


def test_analyses_run_off_the_event_loop_so_it_keeps_answering(tmp_path: Path) -> None:
    plugins = tmp_path / "plugins"
    plugins.mkdir()
    (plugins / "thread_probe.py").write_text(THREAD_PROBE)

    async def threads_and_longest_pause() -> tuple[list[str], float]:
        """Three 0.4 s runs of the probe, one after the other, while ``GET /`` is asked every 20 ms."""
        app = create_app(Settings(data_dir=tmp_path / "data", plugin_dirs=[plugins]))
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://qualia") as client:

            async def probes() -> list[str]:
                body = {"text": RETRO, "parameters": {"seconds": 0.4}}
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
    threads, longest_pause = asyncio.run(threads_and_longest_pause())
    assert loop_thread not in threads  # runs go to a worker thread
    assert longest_pause < 0.2  # and the loop kept answering while they ran


def comparable(answer: httpx.Response) -> Any:
    """An answer's content without the run times in its provenance (JSON) or as bytes (images)."""
    if not answer.headers["content-type"].startswith("application/json"):
        return answer.content

    def untimed(value: Any) -> Any:
        if isinstance(value, dict):
            return {key: untimed(item) for key, item in value.items() if key != "seconds"}
        return [untimed(item) for item in value] if isinstance(value, list) else value

    return untimed(answer.json())


def still_running(pid: int) -> bool:
    """Neither gone nor a zombie (its state is the field after the parenthesised name in /proc/PID/stat)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[0] != "Z"
    except FileNotFoundError:
        return False


def test_an_engine_pool_answers_as_the_server_process_does_and_survives_a_lost_engine(tmp_path: Path) -> None:
    """The same answers and errors from engine processes; a dead engine costs at most the request it had."""
    plugins = tmp_path / "plugins"
    plugins.mkdir()
    (plugins / "thread_probe.py").write_text(THREAD_PROBE)
    (plugins / "always_fails.py").write_text(FAILING)
    settings = Settings(data_dir=tmp_path / "data", plugin_dirs=[plugins], max_file_mb=1)
    requests: list[tuple[str, dict[str, Any]]] = [
        ("/analyze/word_frequency", {"json": {"text": RETRO, "parameters": {"max_words": 3}}}),
        ("/analyze/word_frequency", {"json": {"text": RETRO, "parameters": {"max_words": -1}}}),
        ("/analyze/word_frequency", {"json": {"parameters": {}}}),
        ("/analyze/always_fails", {"json": {"text": RETRO}}),
        ("/analyze/nope", {"json": {"text": RETRO}}),
        ("/analyze/teams_cleaner", {"json": {"text": RETRO}}),
        ("/analyze/word_frequency", {"files": {"file": ("x.vtt", b"not a transcript")}}),
        ("/process/teams_cleaner", {"files": {"file": ("retro.txt", RETRO.encode())}}),
        ("/visualize/wordcloud_viz", {"json": {"text": RETRO}}),
        ("/pipeline", {"json": {"text": RETRO, "steps": [{"plugin": "sentiment_analyzer"}, {"plugin": "nope"}]}}),
        ("/pipeline", {"json": {"text": RETRO, "steps": [{"plugin": "sentiment_analyzer"}]}}),
    ]

    def answers(client: TestClient) -> list[tuple[int, str, Any]]:
        answered = [client.post(path, **kwargs) for path, kwargs in requests]
        return [(a.status_code, a.headers["content-type"], comparable(a)) for a in answered]

    with TestClient(create_app(settings)) as client:
        in_process = answers(client)
    with TestClient(create_app(settings, engine_processes=2)) as client:
        pooled = answers(client)
        engines = [int(pid) for pid in client.get("/health").json()["counters"]["engines"]]
        assert len(engines) == 2 and os.getpid() not in engines
        server_nice = os.getpriority(os.PRIO_PROCESS, 0)  # engines give way to the process answering requests
        assert {os.getpriority(os.PRIO_PROCESS, pid) for pid in engines} == {min(19, server_nice + ENGINE_NICENESS)}
        with ThreadPoolExecutor(2) as clients:  # an engine killed mid-run: that request fails, clearly
            running = clients.submit(
                client.post, "/analyze/thread_probe", json={"text": RETRO, "parameters": {"seconds": 5}}
            )
            time.sleep(1.5)
            for pid in engines:
                os.kill(pid, signal.SIGKILL)
            lost = running.result(timeout=30)
        assert lost.status_code == 503 and "engine process stopped" in lost.json()["error"]
        for pid in engines:  # dead: gone, or a zombie until its parent reaps it (an idle one, when next used)
            deadline = time.monotonic() + 30  # a killed process may still be on its way out on a busy machine
            while still_running(pid):
                assert time.monotonic() < deadline, f"engine {pid} still running 30 s after SIGKILL"
                time.sleep(0.1)
        again = client.post("/analyze/word_frequency", json={"text": RETRO})
        assert again.status_code == 200  # a new engine took it
        assert set(client.get("/health").json()["counters"]["engines"]) - {str(pid) for pid in engines}
    assert [status for status, _, _ in pooled] == [200, 400, 422, 500, 404, 400, 400, 200, 200, 404, 200]
    assert pooled == in_process


def test_corpus_tables_are_served_a_page_at_a_time_from_the_last_refresh(tmp_path: Path) -> None:
    import pandas as pd

    settings = Settings(data_dir=tmp_path / "data")
    folder = settings.outputs_dir / "distinctive_words"
    folder.mkdir(parents=True)
    rows = pd.DataFrame(
        {"transcript": [f"m{n // 10}" for n in range(250)], "rank": [n % 10 + 1 for n in range(250)], "word": "x"}
    )
    rows.to_parquet(folder / "all.parquet", row_group_size=64)  # pages span row groups
    with TestClient(create_app(settings)) as client:
        first = client.get("/corpus/distinctive_words", params={"limit": 100}).json()
        assert first["total"] == 250 and len(first["rows"]) == 100 and first["next_offset"] == 100
        last = client.get("/corpus/distinctive_words", params={"limit": 100, "offset": 200}).json()
        assert [row["rank"] for row in last["rows"]][:3] == [1, 2, 3] and last["next_offset"] is None
        assert last["rows"][-1] == {"transcript": "m24", "rank": 10, "word": "x"}
        one = client.get("/corpus/distinctive_words", params={"transcript": "m3"}).json()
        assert one["total"] == 10 and {row["transcript"] for row in one["rows"]} == {"m3"}
        missing = client.get("/corpus/vocabulary")
        assert missing.status_code == 404 and "not materialized yet" in missing.json()["error"]
        assert client.get("/corpus/everything").status_code == 422
        assert client.get("/corpus/distinctive_words", params={"limit": 5000}).status_code == 422
