"""The API's pipeline side: transcripts through Dagster, webhooks, health and metrics, keys, limits, Sentry."""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Iterator
from pathlib import Path

import dagster as dg
import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from qualia_pipelines.api.app import create_app
from qualia_pipelines.cli import app as cli
from qualia_pipelines.core.alerts import signature
from qualia_pipelines.core.engine import Engine
from qualia_pipelines.core.settings import Settings
from qualia_pipelines.orchestration.resources import resources_for
from qualia_pipelines.orchestration.sensors import inbox_sensor
from tests.conftest import FAILING, SAMPLES, digest, sensor_tick
from tests.receiver import receiver

SECRET = "webhook-test-secret"
RETRO = "[00:01] Ana: O deploy foi ótimo, adorei a nova integração.\n[00:09] Rafael: A documentação ficou confusa.\n"


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(data_dir=tmp_path / "data", max_file_mb=2)


@pytest.fixture
def client(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> Iterator[TestClient]:
    monkeypatch.setenv("QUALIA_WEBHOOK_SECRET_GENERIC", SECRET)
    with TestClient(create_app(settings)) as client:
        yield client


def upload(client: TestClient, path: Path, name: str | None = None, **params: str):
    with path.open("rb") as handle:
        return client.post("/transcripts", files={"file": (name or path.name, handle)}, params=params)


def wait_until_processed(client: TestClient, key: str, timeout_s: float = 240) -> dict:
    deadline = time.monotonic() + timeout_s
    while True:
        detail = client.get(f"/transcripts/{key}").json()
        if detail["status"] in ("processed", "failed"):
            return detail
        assert time.monotonic() < deadline, f"{key} still {detail['status']} after {timeout_s} s"
        time.sleep(0.5)


def test_upload_and_materialize_now_give_the_numbers_of_the_engine_the_api_and_the_cli(
    client: TestClient, settings: Settings
) -> None:
    sample = SAMPLES["vtt_pt"]
    accepted = upload(client, sample, materialize="now")
    assert accepted.status_code == 202, accepted.text
    body = accepted.json()
    assert body["key"] == "weekly_sync_pt.vtt" and body["new"] and body["status"] == "queued"
    assert len(body["run_ids"]) == 1 and body["links"]["report"] == "/transcripts/weekly_sync_pt.vtt/report"
    detail = wait_until_processed(client, "weekly_sync_pt.vtt")
    assert detail["status"] == "processed", detail
    assert set(detail["assets"].values()) == {"materialized"} and len(detail["assets"]) == 8

    # Dagster, the engine, the API and the CLI agree on the same file.
    expected = Engine().run_file("word_frequency", sample).to_dict()["values"]["top_words"][:10]
    dagster_top = [{"word": row["word"], "count": row["count"]} for row in expected]
    assert detail["results"]["top_words"] == dagster_top
    with sample.open("rb") as handle:
        api = client.post("/analyze/word_frequency", files={"file": (sample.name, handle)}).json()
    assert api["values"]["top_words"][:10] == expected
    printed = CliRunner().invoke(cli, ["analyze", str(sample), "-p", "word_frequency", "--json", "--no-cache"])
    assert json.loads(printed.stdout)["values"]["top_words"][:10] == expected
    mood = Engine().run_file("sentiment_analyzer", sample).values["sentiment"]
    headline = f"{mood['sentiment_label']} ({mood['polarity']:+.2f})"
    assert detail["results"]["sentiment"] == {
        "label": mood["sentiment_label"],
        "polarity": mood["polarity"],
        "headline": headline,
    }

    with dg.DagsterInstance.from_config(str(settings.instance_dir)) as instance:
        run = instance.get_run_by_id(body["run_ids"][0])
        assert run is not None and run.status == dg.DagsterRunStatus.SUCCESS
    report = client.get("/transcripts/weekly_sync_pt.vtt/report")
    assert report.headers["content-type"].startswith("text/html") and "weekly_sync_pt.vtt" in report.text
    script = client.get("/transcripts/weekly_sync_pt.vtt/plotly.min.js")  # where the report's charts load it from
    assert script.headers["content-type"].startswith("text/javascript") and len(script.content) > 1_000_000
    assert client.get("/transcripts/nope.txt/plotly.min.js").status_code == 404
    listed = {item["key"]: item for item in client.get("/transcripts").json()["items"]}
    assert listed["weekly_sync_pt.vtt"]["status"] == "processed"
    assert digest(settings.inbox_dir / "weekly_sync_pt.vtt") == digest(sample)  # the inbox copy is untouched


def test_uploads_are_checked_named_safely_and_never_replace_a_file(client: TestClient, settings: Settings) -> None:
    first = upload(client, SAMPLES["txt_pt"])
    assert first.status_code == 202 and first.json()["status"] == "received" and first.json()["run_ids"] == []
    again = upload(client, SAMPLES["txt_pt"])
    assert again.status_code == 202 and not again.json()["new"]
    conflict = client.post("/transcripts", files={"file": ("retro_pt.txt", b"Ana: outra coisa")})
    assert conflict.status_code == 409 and "already has a different file" in conflict.json()["error"]
    assert digest(settings.inbox_dir / "retro_pt.txt") == digest(SAMPLES["txt_pt"])

    sniffed = client.post("/transcripts", files={"file": ("standup", SAMPLES["vtt_en"].read_bytes())})
    assert sniffed.json()["key"] == "standup.vtt" and (settings.inbox_dir / "standup.vtt").is_file()
    traversal = client.post("/transcripts", files={"file": ("../../escape.txt", b"Ana: oi tudo bem")})
    assert traversal.json()["key"] == "escape.txt" and (settings.inbox_dir / "escape.txt").is_file()
    binary = client.post("/transcripts", files={"file": ("photo.vtt", b"\x89PNG\r\n\x1a\n" + b"\0" * 64)})
    assert binary.status_code == 400 and "PNG image" in binary.json()["error"]
    empty = client.post("/transcripts", files={"file": ("empty.txt", b"")})
    assert empty.status_code == 400 and "empty" in empty.json()["error"]
    too_big = client.post("/transcripts", files={"file": ("big.txt", b"Ana: oi\n" * 400_000)})
    assert too_big.status_code == 413
    not_multipart = client.post("/transcripts", json={"text": "Ana: oi"})
    assert not_multipart.status_code == 400 and "multipart" in not_multipart.json()["error"]
    assert sorted(p.name for p in settings.inbox_dir.iterdir()) == ["escape.txt", "retro_pt.txt", "standup.vtt"]

    received = {item["key"]: item["status"] for item in client.get("/transcripts").json()["items"]}
    assert received == {"escape.txt": "received", "retro_pt.txt": "received", "standup.vtt": "received"}
    for missing in ("/transcripts/nope.txt", "/transcripts/nope.txt/report"):
        assert client.get(missing).status_code == 404
    assert client.post("/transcripts/nope.txt/materialize").status_code == 404
    no_report = client.get("/transcripts/retro_pt.txt/report")
    assert no_report.status_code == 404 and "no report yet" in no_report.json()["error"]


def every_page(client: TestClient, **params: object) -> tuple[list[dict], int]:
    """Every item of a listing, page after page, and how many pages it took."""
    items, cursor, pages = [], None, 0
    while True:
        answer = client.get("/transcripts", params={**params, **({"cursor": cursor} if cursor else {})})
        assert answer.status_code == 200, answer.text
        items += answer.json()["items"]
        pages += 1
        cursor = answer.json()["next_cursor"]
        if cursor is None:
            return items, pages


def test_the_transcript_listing_pages_through_every_transcript_exactly_once(
    client: TestClient, settings: Settings
) -> None:
    registered = [f"meeting_{index:03d}.vtt" for index in range(230)]
    with dg.DagsterInstance.from_config(str(settings.instance_dir)) as instance:
        instance.add_dynamic_partitions("transcripts", registered)
    for name in ("retro_pt.txt", "weekly_sync_pt.vtt"):  # in the inbox, not seen by the sensor yet
        upload(client, SAMPLES["txt_pt" if name.endswith(".txt") else "vtt_pt"], name)
    (settings.inbox_dir / "meeting_007.vtt").write_bytes(SAMPLES["vtt_pt"].read_bytes())  # registered and there

    items, pages = every_page(client, limit=50)
    keys = [item["key"] for item in items]
    assert keys == [*registered, "retro_pt.txt", "weekly_sync_pt.vtt"] and pages == 5  # registration order, once
    by_key = {item["key"]: item for item in items}
    assert by_key["meeting_000.vtt"]["status"] == "pending" and by_key["meeting_000.vtt"]["file"] is None
    assert by_key["meeting_007.vtt"]["file"] == "meeting_007.vtt" and by_key["retro_pt.txt"]["status"] == "received"

    received, _ = every_page(client, status="received", limit=1)
    assert [item["key"] for item in received] == ["retro_pt.txt", "weekly_sync_pt.vtt"]
    assert every_page(client, status="processed")[0] == []
    assert [item["key"] for item in every_page(client, status="pending", limit=100)[0]] == registered

    assert client.get("/transcripts", params={"cursor": "bm90IGEgY3Vyc29y"}).status_code == 400
    forged = base64.urlsafe_b64encode(json.dumps(["registered", "eyJhIjogMX0="]).encode()).decode()  # Dagster's part
    assert client.get("/transcripts", params={"cursor": forged}).status_code == 400
    assert client.get("/transcripts", params={"limit": 5000}).status_code == 422
    assert client.get("/transcripts", params={"status": "lost"}).status_code == 422


def test_materialize_endpoint_runs_an_inbox_file_and_the_sensor_does_not_run_it_again(
    client: TestClient, settings: Settings
) -> None:
    upload(client, SAMPLES["txt_pt"])
    launched = client.post("/transcripts/retro_pt.txt/materialize")
    assert launched.status_code == 202 and len(launched.json()["run_ids"]) == 1
    assert wait_until_processed(client, "retro_pt.txt")["status"] == "processed"
    qualia = resources_for(settings)["qualia"]
    with dg.DagsterInstance.from_config(str(settings.instance_dir)) as instance:
        first = sensor_tick(inbox_sensor, instance=instance, resources={"qualia": qualia})
        second = sensor_tick(inbox_sensor, instance=instance, resources={"qualia": qualia}, cursor=first.cursor)
    # The file settles at the first look (written more than 5 s ago, or once the tick has waited for that) or at
    # the second: neither runs it again.
    assert not first.run_requests and not second.run_requests
    assert any("already taken" in tick.skip_reason.skip_message for tick in (first, second))


def signed(body: bytes, secret: str = SECRET, at: int | None = None) -> dict[str, str]:
    timestamp = str(at if at is not None else int(time.time()))
    return {
        "content-type": "application/json",
        "x-qualia-timestamp": timestamp,
        "x-qualia-signature": signature(secret.encode(), timestamp, body),
    }


def test_webhooks_analyse_or_queue_only_signed_fresh_deliveries(client: TestClient, settings: Settings) -> None:
    body = json.dumps({"text": RETRO, "callback_url": "http://127.0.0.1:9/never-fetched"}).encode()
    headers = signed(body)
    answer = client.post("/webhooks/generic", content=body, headers=headers)
    assert answer.status_code == 200, answer.text
    results = answer.json()["results"]
    assert answer.json()["action"] == "analysed" and {"word_frequency", "sentiment_analyzer"} <= set(results)
    assert results["sentiment_analyzer"]["values"]["sentiment"]["engine"] == "leia"

    replay = client.post("/webhooks/generic", content=body, headers=headers)
    assert replay.status_code == 401 and "replay" in replay.json()["error"]
    wrong = client.post("/webhooks/generic", content=body, headers=signed(body, secret="not-the-secret"))
    assert wrong.status_code == 401 and "does not match" in wrong.json()["error"]
    tampered_headers = signed(body)
    tampered = client.post("/webhooks/generic", content=body.replace(b"Ana", b"Eva"), headers=tampered_headers)
    assert tampered.status_code == 401
    missing = client.post("/webhooks/generic", content=body, headers={"content-type": "application/json"})
    assert missing.status_code == 401 and "required" in missing.json()["error"]
    stale = client.post("/webhooks/generic", content=body, headers=signed(body, at=int(time.time()) - 301))
    assert stale.status_code == 401 and "within 300 s" in stale.json()["error"]
    assert client.post("/webhooks/unknown", content=body, headers=signed(body)).status_code == 404
    assert not settings.inbox_dir.exists() or not any(settings.inbox_dir.iterdir())

    docx = {"transcript": {"name": "planning_en.docx", "content": base64.b64encode(SAMPLES["docx_en"].read_bytes())}}
    queued_body = json.dumps(docx, default=bytes.decode).encode()
    queued = client.post("/webhooks/generic", content=queued_body, headers=signed(queued_body))
    assert queued.status_code == 400 and "not valid base64" not in queued.text  # utf-8 by default: not a docx
    docx["transcript"]["encoding"] = "base64"
    queued_body = json.dumps(docx, default=bytes.decode).encode()
    queued = client.post("/webhooks/generic", content=queued_body, headers=signed(queued_body))
    assert queued.status_code == 200 and queued.json() == {
        "source": "generic",
        "action": "queued",
        "key": "planning_en.docx",
        "results": {},
    }
    assert digest(settings.inbox_dir / "planning_en.docx") == digest(SAMPLES["docx_en"])


def test_generic_webhook_without_a_secret_refuses_everything(tmp_path: Path) -> None:
    body = json.dumps({"text": RETRO}).encode()
    with TestClient(create_app(Settings(data_dir=tmp_path / "data"))) as client:
        answer = client.post("/webhooks/generic", content=body, headers=signed(body))
    assert answer.status_code == 401 and "QUALIA_WEBHOOK_SECRET_GENERIC" in answer.json()["error"]


def test_health_metrics_and_live_counters(client: TestClient) -> None:
    health = client.get("/health")
    assert health.status_code == 200
    report = health.json()
    assert report["status"] == "ok" and report["dagster"]["reachable"] and report["disk"]["free_bytes"] > 0
    assert report["breakers"]["word_frequency"] == "closed" and "teams_cleaner" in report["plugins"]
    assert client.post("/analyze/word_frequency", json={"text": RETRO}).status_code == 200
    assert client.post("/analyze/word_frequency", json={"text": RETRO, "parameters": {"max_words": 0}}).status_code
    metrics = client.get("/metrics")
    assert metrics.headers["content-type"].startswith("text/plain")
    assert 'qualia_plugin_duration_seconds_count{plugin="word_frequency"} 1.0' in metrics.text
    assert 'qualia_http_requests_total{method="POST",route="/analyze/{plugin_id}",status="200"} 1.0' in metrics.text
    stream = client.get("/health/stream", params={"events": 2, "interval": 0.1})
    assert stream.headers["content-type"].startswith("text/event-stream")
    events = [json.loads(line[len("data: ") :]) for line in stream.text.splitlines() if line.startswith("data: ")]
    assert len(events) == 2 and events[0]["plugins"]["word_frequency"]["runs"] == 1
    assert events[0]["requests"] >= 4 and events[0]["client_errors"] >= 1


def test_api_keys_loopback_rule_rate_limit_and_cors(tmp_path: Path) -> None:
    keyed = Settings(data_dir=tmp_path / "a", api_keys=["k-one", "k-two"], rate_limit_per_minute=3)
    with TestClient(create_app(keyed)) as client:
        assert client.get("/plugins").json()["error"] == "missing X-API-Key header"
        assert client.get("/plugins", headers={"x-api-key": "nope"}).status_code == 401
        assert client.get("/health").status_code == 200 and client.get("/openapi.json").status_code == 200
        answers = [client.get("/plugins", headers={"x-api-key": "k-one"}) for _ in range(4)]
        assert [a.status_code for a in answers] == [200, 200, 200, 429]
        assert 1 <= int(answers[-1].headers["retry-after"]) <= 60 and "rate limit" in answers[-1].json()["error"]
        assert client.get("/plugins", headers={"x-api-key": "k-two"}).status_code == 200  # its own budget
    open_settings = Settings(data_dir=tmp_path / "b", cors_origins=["https://lab.example"])
    app = create_app(open_settings)
    with TestClient(app, base_url="http://10.1.2.3") as exposed:
        refused = exposed.get("/plugins")
        assert refused.status_code == 401 and "non-loopback" in refused.json()["error"]
    with TestClient(app, base_url="http://127.0.0.1") as local:
        assert local.get("/plugins").status_code == 200
        preflight = local.options(
            "/analyze/word_frequency",
            headers={"origin": "https://lab.example", "access-control-request-method": "POST"},
        )
        assert preflight.headers["access-control-allow-origin"] == "https://lab.example"
        other = local.get("/plugins", headers={"origin": "https://evil.example"})
        assert "access-control-allow-origin" not in other.headers


def test_sentry_gets_plugin_failures_with_their_plugin_when_a_dsn_is_set(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    plugins = tmp_path / "plugins"
    plugins.mkdir()
    (plugins / "always_fails.py").write_text(FAILING)
    import sentry_sdk

    with receiver() as sentry:
        monkeypatch.setenv("SENTRY_DSN", sentry.url.replace("http://", "http://publickey@") + "/1")
        try:
            with TestClient(create_app(Settings(data_dir=tmp_path / "data", plugin_dirs=[plugins]))) as client:
                failed = client.post("/analyze/always_fails", json={"text": RETRO})
                bad_input = client.post(
                    "/analyze/word_frequency", json={"text": RETRO, "parameters": {"max_words": -1}}
                )
            sentry_sdk.flush(timeout=10)
        finally:
            sentry_sdk.get_client().close()
    assert failed.status_code == 500 and "always_fails" in failed.json()["error"]
    assert "Traceback" not in failed.text and bad_input.status_code == 400
    events = [json.loads(line) for data in sentry.bodies for line in data.splitlines() if b'"exception"' in line]
    assert len(events) == 1  # the plugin failure; bad input is the client's, not an error to report
    assert events[0]["tags"]["plugin"] == "always_fails"
    assert events[0]["request"]["url"].endswith("/analyze/always_fails")
