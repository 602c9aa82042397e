"""``POST /webhooks/{source}``: signed deliveries of text to analyse or transcripts to queue.

A delivery is accepted only with ``X-Qualia-Timestamp`` (unix seconds, within
five minutes of now) and ``X-Qualia-Signature: sha256=<hex>``, the HMAC-SHA256
of ``<timestamp>.<raw body>`` under the source's secret
(``QUALIA_WEBHOOK_SECRET_<SOURCE>``). Each signature is accepted once: the
replay ledger is a small SQLite table shared by every API worker. URLs in a
payload are never fetched.
"""

import base64
import binascii
import hmac
import re
import sqlite3
import time
from collections.abc import Awaitable, Callable, Mapping
from pathlib import Path
from typing import Any

from fastapi import APIRouter, HTTPException, Request
from fastapi.exceptions import RequestValidationError
from pydantic import ValidationError

from qualia_pipelines.api.limits import safe_file_name
from qualia_pipelines.api.schemas import PipelineStep, WebhookDelivery, WebhookResult
from qualia_pipelines.core.alerts import signature
from qualia_pipelines.core.contract import QualiaError

TOLERANCE_S = 300
SECRET_PREFIX = "QUALIA_WEBHOOK_SECRET_"
GENERIC = "generic"
_SOURCE = re.compile(r"[a-z0-9][a-z0-9_-]{0,63}")
_TIMESTAMP = re.compile(r"[0-9]{1,12}")  # ASCII digits: str.isdigit() also takes "²", which int() refuses


def webhook_secrets(environ: Mapping[str, str]) -> dict[str, bytes]:
    """``QUALIA_WEBHOOK_SECRET_GITHUB=...`` -> ``{"github": b"..."}`` (source names are lowercase)."""
    return {
        name[len(SECRET_PREFIX) :].lower(): value.encode()
        for name, value in environ.items()
        if name.startswith(SECRET_PREFIX) and value
    }


class ReplayLedger:
    """Signatures seen within the tolerance window, in SQLite so that all workers share them."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        with self._connect() as db:
            db.execute("CREATE TABLE IF NOT EXISTS seen (signature TEXT PRIMARY KEY, at REAL NOT NULL)")

    def _connect(self) -> sqlite3.Connection:
        return sqlite3.connect(self.path, timeout=10, isolation_level=None)

    def first_time(self, value: str, now: float) -> bool:
        """Record ``value``; False when it was already recorded (a replay)."""
        with self._connect() as db:
            db.execute("DELETE FROM seen WHERE at < ?", (now - 2 * TOLERANCE_S,))
            try:
                db.execute("INSERT INTO seen (signature, at) VALUES (?, ?)", (value, now))
            except sqlite3.IntegrityError:
                return False
        return True


def verify(secret: bytes | None, source: str, headers: Mapping[str, str], body: bytes, now: float) -> None:
    """Raise 401 naming what is wrong unless the delivery is signed, fresh and well-formed."""
    if secret is None:
        raise HTTPException(401, f"webhook source {source!r} has no secret: set {SECRET_PREFIX}{source.upper()}")
    timestamp = headers.get("x-qualia-timestamp", "")
    given = headers.get("x-qualia-signature", "")
    if not timestamp or not given:
        raise HTTPException(401, "webhook: X-Qualia-Timestamp and X-Qualia-Signature headers are required")
    if not _TIMESTAMP.fullmatch(timestamp) or abs(now - int(timestamp)) > TOLERANCE_S:
        raise HTTPException(401, f"webhook: X-Qualia-Timestamp is not within {TOLERANCE_S} s of the server's clock")
    if not hmac.compare_digest(given.encode(), signature(secret, timestamp, body).encode()):
        raise HTTPException(401, "webhook: X-Qualia-Signature does not match the body (sha256=<hex> of '<ts>.<body>')")


Analyse = Callable[[str, list[PipelineStep] | None], Awaitable[dict[str, Any]]]
Queue = Callable[[str, bytes], Awaitable[str]]


def webhooks_router(secrets: dict[str, bytes], ledger: ReplayLedger, analyse: Analyse, queue: Queue) -> APIRouter:
    router = APIRouter(tags=["webhooks"])

    @router.post(
        "/webhooks/{source}",
        summary="A signed delivery: text to analyse now, or a transcript file to queue into the inbox",
        responses={401: {"description": "Missing, wrong or replayed signature; nothing was processed."}},
        openapi_extra={"requestBody": {"required": True, "content": {"application/json": {"schema": _SCHEMA}}}},
    )
    async def deliver(source: str, request: Request) -> WebhookResult:
        if not _SOURCE.fullmatch(source) or (source != GENERIC and source not in secrets):
            raise HTTPException(404, f"unknown webhook source {source!r}")
        body = await request.body()
        now = time.time()
        verify(secrets.get(source), source, request.headers, body, now)
        if not ledger.first_time(request.headers["x-qualia-signature"], now):
            raise HTTPException(401, "webhook: this delivery was already received (replay)")
        try:
            delivery = WebhookDelivery.model_validate_json(body)
        except ValidationError as exc:
            raise RequestValidationError(exc.errors()) from None
        if delivery.transcript is not None:
            name = safe_file_name(delivery.transcript.name)
            key = await queue(name, _content(delivery.transcript.content, delivery.transcript.encoding, name))
            return WebhookResult(source=source, action="queued", key=key, results={})
        if delivery.text is None:
            raise QualiaError("webhook payload needs 'text' (to analyse) or 'transcript' (to queue)")
        results = await analyse(delivery.text, delivery.steps)
        return WebhookResult(source=source, action="analysed", key=None, results=results)

    return router


_SCHEMA = WebhookDelivery.model_json_schema()


def _content(content: str, encoding: str, name: str) -> bytes:
    if encoding == "base64":
        try:
            return base64.b64decode(content, validate=True)
        except (binascii.Error, ValueError):
            raise QualiaError(f"webhook transcript {name}: content is not valid base64") from None
    return content.encode("utf-8")


def ledger_path(data_dir: Path) -> Path:
    return data_dir / ".qualia" / "webhook-deliveries.sqlite"
