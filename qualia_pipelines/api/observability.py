"""Counters for ``/health/stream`` and ``/metrics``, and optional Sentry reporting.

Prometheus metrics follow ``prometheus-client``'s multiprocess mode when
``PROMETHEUS_MULTIPROC_DIR`` is set (for several server processes, e.g. under
gunicorn), so a scrape sees every process; the live counters of the event
stream are the answering process's own. ``qualia serve`` has one server
process, whatever its number of engine processes, so both see everything.
"""

import asyncio
import json
import os
import time
from collections import defaultdict
from collections.abc import AsyncIterator, Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.multiprocess import MultiProcessCollector
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from qualia_pipelines.core.engine import StepRecord

MULTIPROCESS_ENV = "PROMETHEUS_MULTIPROC_DIR"


@dataclass
class PluginTiming:
    count: int = 0
    seconds: float = 0.0
    max_seconds: float = 0.0


@dataclass
class Telemetry:
    """Request and plugin figures of this server process, mirrored into Prometheus metrics."""

    started: float = field(default_factory=time.monotonic)
    requests: int = 0
    client_errors: int = 0
    server_errors: int = 0
    plugins: dict[str, PluginTiming] = field(default_factory=lambda: defaultdict(PluginTiming))
    engine_pids: Callable[[], list[int]] = field(default=list)  # the live engines' pids, once they have started
    engine_runs: dict[int, int] = field(default_factory=dict)  # by engine pid: how the load spread

    def __post_init__(self) -> None:
        multiprocess = bool(os.environ.get(MULTIPROCESS_ENV))
        self.registry = CollectorRegistry()
        if multiprocess:
            MultiProcessCollector(self.registry)
        own = None if multiprocess else self.registry  # in multiprocess mode values go to the shared files
        self._requests = Counter(
            "qualia_http_requests", "HTTP requests answered.", ["method", "route", "status"], registry=own
        )
        self._latency = Histogram(
            "qualia_http_request_duration_seconds", "Time to answer, by route.", ["route"], registry=own
        )
        self._plugin_latency = Histogram(
            "qualia_plugin_duration_seconds",
            "Time a plugin took on one transcript (cache hits excluded).",
            ["plugin"],
            registry=own,
        )

    def observe_request(self, method: str, route: str, status: int, seconds: float) -> None:
        self.requests += 1
        self.client_errors += 400 <= status < 500
        self.server_errors += status >= 500
        self._requests.labels(method, route, str(status)).inc()
        self._latency.labels(route).observe(seconds)

    def observe_steps(self, steps: Iterable[StepRecord], engine_pid: int) -> None:
        self.engine_runs[engine_pid] = self.engine_runs.get(engine_pid, 0) + 1
        for step in steps:
            if step.cache_hit:
                continue
            timing = self.plugins[step.plugin]
            timing.count += 1
            timing.seconds += step.seconds
            timing.max_seconds = max(timing.max_seconds, step.seconds)
            self._plugin_latency.labels(step.plugin).observe(step.seconds)

    def counters(self) -> dict[str, Any]:
        return {
            "uptime_s": round(time.monotonic() - self.started, 3),
            "pid": os.getpid(),
            "requests": self.requests,
            "errors": self.client_errors + self.server_errors,
            "client_errors": self.client_errors,
            "server_errors": self.server_errors,
            "engines": {str(pid): self.engine_runs.get(pid, 0) for pid in self.engine_pids()},
            "plugins": {
                plugin: {
                    "runs": t.count,
                    "mean_ms": round(1000 * t.seconds / t.count, 2),
                    "max_ms": round(1000 * t.max_seconds, 2),
                }
                for plugin, t in sorted(self.plugins.items())
            },
        }

    def prometheus_text(self) -> bytes:
        return generate_latest(self.registry)

    async def event_stream(self, interval_s: float, events: int | None) -> AsyncIterator[str]:
        """Server-Sent Events: ``event: counters`` with the counters as JSON, every ``interval_s``."""
        sent = 0
        while events is None or sent < events:
            yield f"event: counters\ndata: {json.dumps(self.counters())}\n\n"
            sent += 1
            if events is None or sent < events:
                await asyncio.sleep(interval_s)


class TelemetryMiddleware:
    """Counts every answer by route template (never the raw path: bounded label values)."""

    def __init__(self, app: ASGIApp, telemetry: Telemetry) -> None:
        self.app = app
        self.telemetry = telemetry

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def tracked_send(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, tracked_send)
        finally:
            route = getattr(scope.get("route"), "path", "unmatched")
            self.telemetry.observe_request(scope["method"], route, status, time.perf_counter() - started)
