"""Alerts: signed notifications of failed runs and circuit-breaker changes, and optional Sentry events.

A notification is a JSON POST to the configured URL, signed the way Qualia's
own webhooks are verified (``X-Qualia-Timestamp`` and ``X-Qualia-Signature:
sha256=<HMAC-SHA256 of "<timestamp>.<body>">``), so a receiver can reuse the
same check. A delivery that fails raises, so the sensor that sent it fails its
tick and tries again next time instead of losing the alert.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import time
import urllib.error
import urllib.request
from dataclasses import asdict, dataclass, field
from typing import Any

from qualia_pipelines import __version__
from qualia_pipelines.core.contract import QualiaError

SECRET_ENV = "QUALIA_ALERT_SECRET"


class AlertError(QualiaError):
    """A notification could not be delivered."""


@dataclass(frozen=True)
class Alert:
    """What happened (``run_failure``, ``breaker_open``, ``breaker_half_open``, ``breaker_closed``) and where."""

    event: str
    summary: str
    assets: list[str] = field(default_factory=list)
    partition: str | None = None
    error: str | None = None
    run_id: str | None = None
    details: dict[str, Any] = field(default_factory=dict)


def signature(secret: bytes, timestamp: str, body: bytes) -> str:
    """The value of ``X-Qualia-Signature`` for a body sent at ``timestamp``."""
    return "sha256=" + hmac.new(secret, timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()


def deliver(alert: Alert, url: str, secret: str, timeout_s: float = 10.0) -> None:
    """POST the alert as signed JSON; raise AlertError naming the URL when the receiver does not accept it."""
    body = json.dumps({**asdict(alert), "source": f"qualia-pipelines@{__version__}"}).encode()
    timestamp = str(int(time.time()))
    request = urllib.request.Request(
        url,
        data=body,
        method="POST",
        headers={
            "Content-Type": "application/json",
            "X-Qualia-Event": alert.event,
            "X-Qualia-Timestamp": timestamp,
            "X-Qualia-Signature": signature(secret.encode(), timestamp, body),
        },
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout_s) as response:
            response.read()
    except urllib.error.HTTPError as exc:
        raise AlertError(f"alert {alert.event} to {url}: the receiver answered {exc.code}") from None
    except (urllib.error.URLError, OSError) as exc:
        raise AlertError(f"alert {alert.event} to {url}: {getattr(exc, 'reason', exc)}") from None


def init_sentry(dsn: str | None) -> bool:
    """Report errors to Sentry when a DSN is configured; without one nothing is sent."""
    if not dsn:
        return False
    import sentry_sdk

    if sentry_sdk.get_client().is_active() and sentry_sdk.get_client().dsn == dsn:
        return True  # already reporting there: every alert of a daemon need not build a new client
    sentry_sdk.init(
        dsn=dsn,
        release=f"qualia-pipelines@{__version__}",
        environment=os.environ.get("SENTRY_ENVIRONMENT", "production"),
        send_default_pii=False,
        traces_sample_rate=0.0,
    )
    return True


def report_to_sentry(alert: Alert) -> None:
    """One Sentry event per alert, tagged with what failed, when SENTRY_DSN is set."""
    if not init_sentry(os.environ.get("SENTRY_DSN")):
        return
    import sentry_sdk

    with sentry_sdk.new_scope() as scope:
        scope.set_tag("alert", alert.event)
        if alert.assets:
            scope.set_tag("asset", ",".join(alert.assets))
        if alert.partition:
            scope.set_tag("partition", alert.partition)
        scope.set_context("alert", asdict(alert))
        level = "info" if alert.event == "breaker_closed" else "error"
        sentry_sdk.capture_message(alert.summary, level=level)
