"""Hostile clients: key guessing, borrowed addresses, cross-site and rebinding browsers, malformed headers."""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from qualia_pipelines.api.app import create_app
from qualia_pipelines.api.security import FAILED_KEYS_PER_MINUTE
from qualia_pipelines.core.alerts import signature
from qualia_pipelines.core.settings import Settings
from tests.conftest import MULTIPART, multipart_file, qualia_serve

TEXT = "[00:01] Ana: O deploy foi ótimo.\n[00:09] Rafael: A documentação ficou confusa.\n"
SECRET = "webhook-test-secret"


def keyed_app(tmp_path: Path, per_minute: int = 0):
    return create_app(Settings(data_dir=tmp_path / "data", api_keys=["right-key"], rate_limit_per_minute=per_minute))


def test_key_guessing_is_refused_with_429_before_any_key_is_compared(tmp_path: Path) -> None:
    with TestClient(keyed_app(tmp_path)) as client:
        guesses = [client.get("/plugins", headers={"x-api-key": f"guess-{n}"}) for n in range(FAILED_KEYS_PER_MINUTE)]
        assert {answer.status_code for answer in guesses} == {401}
        locked = client.get("/plugins", headers={"x-api-key": "right-key"})  # the right key no longer stands out
        assert locked.status_code == 429 and "missing or wrong X-API-Key" in locked.json()["error"]
        assert 1 <= int(locked.headers["retry-after"]) <= 60
        assert client.get("/plugins", headers={"x-api-key": "guess-again"}).status_code == 429
        assert client.get("/health").status_code == 200  # open routes stay open


def test_only_valid_keys_get_an_allowance_of_their_own(tmp_path: Path) -> None:
    with TestClient(keyed_app(tmp_path, per_minute=3)) as client:
        # three requests with made-up keys on an open route: all counted against the client's address
        assert [client.get("/", headers={"x-api-key": f"made-up-{n}"}).status_code for n in range(3)] == [200] * 3
        assert client.get("/", headers={"x-api-key": "made-up-4"}).status_code == 429
        assert client.get("/").status_code == 429
        own = [client.get("/plugins", headers={"x-api-key": "right-key"}).status_code for _ in range(4)]
        assert own == [200, 200, 200, 429]


def test_health_without_a_key_reports_the_status_only(tmp_path: Path) -> None:
    with TestClient(keyed_app(tmp_path)) as client:
        anonymous = client.get("/health")
        assert anonymous.status_code == 200 and anonymous.json() == {"status": "ok"}
        full = client.get("/health", headers={"x-api-key": "right-key"}).json()
        assert full["status"] == "ok" and "disk" in full and "counters" in full


def test_a_keyless_server_answers_only_loopback_host_names(tmp_path: Path) -> None:
    app = create_app(Settings(data_dir=tmp_path / "data"))
    with TestClient(app, base_url="http://127.0.0.1:8000") as client:
        assert client.get("/plugins").status_code == 200
        assert client.get("/plugins", headers={"host": "localhost:8000"}).status_code == 200
        assert client.get("/plugins", headers={"host": "[::1]:8000"}).status_code == 200
        rebound = client.get("/transcripts", headers={"host": "attacker.example:8000"})
        assert rebound.status_code == 403 and "not this server's" in rebound.json()["error"]


def test_cross_site_requests_that_change_something_are_refused(tmp_path: Path) -> None:
    app = create_app(Settings(data_dir=tmp_path / "data", cors_origins=["https://lab.example"]))
    body = json.dumps({"text": TEXT})
    with TestClient(app, base_url="http://127.0.0.1:8000") as client:
        for headers in (
            {"origin": "https://evil.example", "content-type": "text/plain"},  # a simple request: no preflight
            {"origin": "null", "content-type": "text/plain"},
            {"sec-fetch-site": "cross-site", "content-type": "text/plain"},
        ):
            refused = client.post("/analyze/word_frequency", content=body, headers=headers)
            assert refused.status_code == 403 and "cross-site POST" in refused.json()["error"], headers
        upload = client.post(
            "/transcripts", files={"file": ("a.txt", TEXT.encode())}, headers={"origin": "https://evil.example"}
        )
        assert upload.status_code == 403
        assert not (tmp_path / "data" / "inbox").exists() or not any((tmp_path / "data" / "inbox").iterdir())
        same_origin = client.post("/analyze/word_frequency", content=body, headers={"origin": "http://127.0.0.1:8000"})
        assert same_origin.status_code == 200  # the Swagger UI at /docs
        allowed = client.post("/analyze/word_frequency", content=body, headers={"origin": "https://lab.example"})
        assert allowed.status_code == 200
        assert client.post("/analyze/word_frequency", content=body).status_code == 200  # scripts send no Origin


def signed(body: bytes, timestamp: str) -> dict[str, bytes]:
    """Signed delivery headers; sent as Latin-1 bytes, as HTTP carries them, so "²" arrives as "²"."""
    return {
        "content-type": b"application/json",
        "x-qualia-timestamp": timestamp.encode("latin-1"),
        "x-qualia-signature": signature(SECRET.encode(), timestamp, body).encode(),
    }


def test_malformed_headers_and_names_are_4xx_with_a_one_line_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("QUALIA_WEBHOOK_SECRET_GENERIC", SECRET)
    with TestClient(create_app(Settings(data_dir=tmp_path / "data"))) as client:
        body = json.dumps({"text": TEXT}).encode()
        for timestamp in ("²", "1" * 5000, "-1", "1e9", " 17"):
            answer = client.post("/webhooks/generic", content=body, headers=signed(body, timestamp))
            assert answer.status_code == 401 and "X-Qualia-Timestamp" in answer.json()["error"], timestamp
        for name in ("a" * 255 + ".txt", "nul\x00name.txt", "rtl\u202etxt.vtt"):
            upload = multipart_file(name, TEXT.encode())
            answer = client.post("/transcripts", content=upload, headers={"content-type": MULTIPART})
            assert answer.status_code == 400 and "\n" not in answer.json()["error"], (name, answer.text)
        delivery = json.dumps({"transcript": {"name": "b" * 300 + ".txt", "content": TEXT}}).encode()
        answer = client.post("/webhooks/generic", content=delivery, headers=signed(delivery, str(int(time.time()))))
        assert answer.status_code == 400 and "over 200 bytes" in answer.json()["error"]


def test_a_client_cannot_borrow_another_address_with_forwarded_headers(tmp_path: Path) -> None:
    """A real server on 127.0.0.1: X-Forwarded-For is not believed unless a proxy is configured."""
    with qualia_serve(tmp_path, env={"QUALIA_RATE_LIMIT_PER_MINUTE": "3"}) as port:
        statuses = []
        for n in range(4):
            request = urllib.request.Request(f"http://127.0.0.1:{port}/", headers={"x-forwarded-for": f"203.0.113.{n}"})
            try:
                with urllib.request.urlopen(request, timeout=30) as answer:
                    statuses.append(answer.status)
            except urllib.error.HTTPError as error:
                statuses.append(error.code)
        assert statuses == [200, 200, 200, 429]
