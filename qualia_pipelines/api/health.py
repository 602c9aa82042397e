"""``/health`` (is everything fine, and if not what), ``/health/stream`` (live counters), ``/metrics``."""

import threading
import time
from typing import Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse, Response, StreamingResponse
from prometheus_client import CONTENT_TYPE_LATEST

from qualia_pipelines import __version__
from qualia_pipelines.api.observability import Telemetry
from qualia_pipelines.api.orchestrator import Orchestrator
from qualia_pipelines.api.security import AUTHENTICATED

HEALTH_TTL_S = 2.0
"""A load balancer polling /health many times a second costs one instance query every two seconds."""


class CachedHealth:
    def __init__(self, orchestrator: Orchestrator) -> None:
        self._orchestrator = orchestrator
        self._lock = threading.Lock()
        self._report: dict[str, Any] = {}
        self._at = float("-inf")

    def report(self) -> dict[str, Any]:
        with self._lock:
            if time.monotonic() - self._at > HEALTH_TTL_S:
                self._report = self._orchestrator.health()
                self._at = time.monotonic()
            return self._report


def health_router(orchestrator: Orchestrator, telemetry: Telemetry) -> APIRouter:
    router = APIRouter(tags=["health"])
    cached = CachedHealth(orchestrator)

    @router.get(
        "/health",
        summary="Engine, plugins, Dagster instance, circuit breakers and disk space; 503 when something is wrong. "
        "Where API keys are set, a request without a valid key gets the status only.",
        responses={503: {"description": "Unhealthy: `problems` says why."}},
    )
    def health(request: Request) -> JSONResponse:
        found = cached.report()
        status, code = ("ok", 200) if found["healthy"] else ("unhealthy", 503)
        if not getattr(request.state, AUTHENTICATED, True):  # paths, pids and counters are for key holders
            return JSONResponse({"status": status}, status_code=code)
        report = {"status": status, "version": __version__, **found, "counters": telemetry.counters()}
        return JSONResponse(report, status_code=code)

    @router.get(
        "/health/stream",
        summary="Server-Sent Events: live request, error and per-plugin latency counters",
        response_class=StreamingResponse,
        responses={200: {"content": {"text/event-stream": {}}}},
    )
    def stream(
        interval: float = Query(1.0, ge=0.1, le=60, description="Seconds between events."),
        events: int | None = Query(None, ge=1, le=100_000, description="Stop after this many events."),
    ) -> StreamingResponse:
        return StreamingResponse(
            telemetry.event_stream(interval, events),
            media_type="text/event-stream",
            headers={"cache-control": "no-cache", "x-accel-buffering": "no"},
        )

    @router.get("/metrics", summary="Prometheus metrics (text format)", response_class=Response)
    def metrics() -> Response:
        return Response(telemetry.prometheus_text(), media_type=CONTENT_TYPE_LATEST)

    return router
