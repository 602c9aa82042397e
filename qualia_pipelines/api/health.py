"""``/health`` (is everything fine, and if not what), ``/health/stream`` (live counters), ``/metrics``."""

import threading
import time
from typing import Any

from fastapi import APIRouter, Query
from fastapi.responses import JSONResponse, Response, StreamingResponse
from prometheus_client import CONTENT_TYPE_LATEST

from qualia_pipelines import __version__
from qualia_pipelines.api.observability import Telemetry
from qualia_pipelines.api.orchestrator import Orchestrator

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
        summary="Engine, plugins, Dagster instance, circuit breakers and disk space; 503 when something is wrong",
        responses={503: {"description": "Unhealthy: `problems` says why."}},
    )
    def health() -> JSONResponse:
        report = {"status": "ok", "version": __version__, **cached.report(), "counters": telemetry.counters()}
        if not report["healthy"]:
            report["status"] = "unhealthy"
        return JSONResponse(report, status_code=200 if report["healthy"] else 503)

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
