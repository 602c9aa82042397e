"""The REST API: the same engine as the CLI and Dagster, over HTTP.

`create_app` wires one engine (plugins load once per worker) into thin routes;
every error leaves as JSON with a message naming the plugin, parameter or file,
never as a stack trace.
"""

import os
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import sentry_sdk
from anyio import CapacityLimiter, to_thread
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import JSONResponse, Response
from pydantic import ValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException

from qualia_pipelines import __version__
from qualia_pipelines.api.health import health_router
from qualia_pipelines.api.limits import BodySizeLimit, form_upload
from qualia_pipelines.api.observability import Telemetry, TelemetryMiddleware
from qualia_pipelines.api.orchestrator import Orchestrator, UnknownTranscriptError
from qualia_pipelines.api.schemas import ErrorBody, PipelineRequest, PipelineStep, PluginSummary, TextRequest
from qualia_pipelines.api.security import AccessControl
from qualia_pipelines.api.transcripts import transcripts_router
from qualia_pipelines.api.webhooks import ReplayLedger, ledger_path, webhook_secrets, webhooks_router
from qualia_pipelines.core.alerts import init_sentry
from qualia_pipelines.core.contract import PluginKind, QualiaError, Rendering
from qualia_pipelines.core.engine import Engine, ParamsByPlugin, PluginExecutionError, RunResult
from qualia_pipelines.core.inbox import InboxConflictError
from qualia_pipelines.core.pipeline_config import Step, checked_steps
from qualia_pipelines.core.readers import transcript_from_bytes, transcript_from_text
from qualia_pipelines.core.registry import UnknownPluginError
from qualia_pipelines.core.settings import Settings, load_settings
from qualia_pipelines.core.storage import to_jsonable

ERRORS: dict[int | str, dict[str, Any]] = {
    400: {"model": ErrorBody, "description": "Bad input: the message names the field, plugin or file."},
    401: {"model": ErrorBody, "description": "Missing or invalid X-API-Key (or webhook signature)."},
    404: {"model": ErrorBody, "description": "Unknown plugin, transcript or webhook source."},
    413: {"model": ErrorBody, "description": "Body over the size limit."},
    500: {"model": ErrorBody, "description": "A plugin failed; the message names it (reported to Sentry if set up)."},
    429: {"model": ErrorBody, "description": "Rate limit reached; the Retry-After header says when to retry."},
}
_ROUTE_KIND: dict[str, PluginKind] = {"analyze": "analyzer", "process": "document", "visualize": "visualizer"}


def create_app(
    settings: Settings | None = None, engine: Engine | None = None, orchestrator: Orchestrator | None = None
) -> FastAPI:
    """The application, with one engine and one Dagster instance handle per worker process."""
    settings = settings or load_settings()
    engine = engine or Engine.from_settings(settings, use_cache=settings.api_result_cache)
    orchestrator = orchestrator or Orchestrator(settings)
    telemetry = Telemetry()
    init_sentry(os.environ.get("SENTRY_DSN"))

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        yield
        orchestrator.close()

    app = FastAPI(
        title="Qualia Pipelines",
        version=__version__,
        description="Quantified, reproducible insight from meeting transcripts.",
        responses=ERRORS,
        lifespan=lifespan,
    )
    app.add_middleware(BodySizeLimit, max_bytes=settings.max_bytes + 64 * 1024)
    app.add_middleware(AccessControl, api_keys=settings.api_keys, per_minute=settings.rate_limit_per_minute)
    app.add_middleware(TelemetryMiddleware, telemetry=telemetry)
    if settings.cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=settings.cors_origins,
            allow_methods=["GET", "POST"],
            allow_headers=["content-type", "x-api-key", "x-qualia-timestamp", "x-qualia-signature"],
        )
    _add_error_handlers(app)

    def run_steps(text: str, steps: list[PipelineStep]) -> dict[str, Any]:
        checked = checked_steps("pipeline", [Step(step.plugin, step.parameters) for step in steps], engine)
        params = {step.plugin: step.parameters for step in checked}
        transcript = transcript_from_text(text, source="<request>")
        results = {}
        for step in checked:
            sentry_sdk.set_tag("plugin", step.plugin)
            result = engine.run(step.plugin, transcript, params)
            telemetry.observe_steps(result.steps)
            results[step.plugin] = _describe(result.values) if result.plugin.kind == "visualizer" else result.to_dict()
        return results

    @app.get("/", summary="Name, version and links")
    def root() -> dict[str, Any]:
        return {
            "name": "Qualia Pipelines",
            "version": __version__,
            "links": {
                "docs": "/docs",
                "openapi": "/openapi.json",
                "plugins": "/plugins",
                "transcripts": "/transcripts",
                "health": "/health",
                "metrics": "/metrics",
            },
        }

    @app.get("/plugins", summary="Every available plugin with its parameter schema")
    def plugins() -> list[PluginSummary]:
        return [PluginSummary.of(plugin) for plugin in engine.registry.plugins.values()]

    @app.get("/plugins/{plugin_id}", summary="One plugin's metadata and parameter schema")
    def plugin(plugin_id: str) -> PluginSummary:
        return PluginSummary.of(engine.registry.get(plugin_id))

    for route, kind in _ROUTE_KIND.items():
        _add_run_routes(app, engine, settings, telemetry, route, kind)

    @app.post("/pipeline", summary="Run ordered steps, each with its parameters, on one text")
    def pipeline(body: PipelineRequest) -> dict[str, Any]:
        results = run_steps(body.text, body.steps)
        return {"steps": list(results), "results": results}

    def analyse(text: str, steps: list[PipelineStep] | None) -> dict[str, Any]:
        analyzers = [PipelineStep(plugin=p.id) for p in engine.registry.plugins.values() if p.kind == "analyzer"]
        return run_steps(text, steps or analyzers)

    def queue(name: str, data: bytes) -> str:
        return orchestrator.receive(name, data)[0]

    app.include_router(transcripts_router(orchestrator, settings.max_bytes))
    app.include_router(
        webhooks_router(webhook_secrets(os.environ), ReplayLedger(ledger_path(settings.data_dir)), analyse, queue)
    )
    app.include_router(health_router(orchestrator, telemetry))
    return app


def _add_run_routes(
    app: FastAPI, engine: Engine, settings: Settings, telemetry: Telemetry, route: str, kind: PluginKind
) -> None:
    """``POST /<route>/{plugin_id}``, taking a JSON body or a multipart upload, for plugins of ``kind``.

    Runs go one at a time per process, because CPU-bound threads contending for
    the GIL only add switching (more processes add throughput). A run goes to a
    worker thread, so the event loop keeps answering (health, uploads, the event
    stream) meanwhile; except a text of at most ``_INLINE_MAX_CHARS`` for a plugin
    whose last run took at most ``_INLINE_MAX_SECONDS``, which runs on the event loop
    when no other run is going: for such millisecond analyses the hand-over to the
    thread and back, with its GIL switches, cost about a third of the p95 latency at
    100 requests/s. Slow plugins, uploads and long texts never hold up the loop.
    """
    engine_slot = CapacityLimiter(1)
    last_run_s: dict[str, float] = {}  # by plugin: what its last run on this route took, cache hits included

    def respond(plugin_id: str, parameters: dict[str, Any], execute: Callable[[ParamsByPlugin], RunResult]) -> Any:
        plugin = engine.registry.get(plugin_id)
        if plugin.kind != kind:
            use = next(name for name, k in _ROUTE_KIND.items() if k == plugin.kind)
            raise QualiaError(f"plugin {plugin_id!r} is a {plugin.kind}; use POST /{use}/{plugin_id}")
        sentry_sdk.set_tag("plugin", plugin_id)
        started = time.perf_counter()
        result = execute(params_by_plugin(plugin_id, parameters))
        last_run_s[plugin_id] = time.perf_counter() - started
        telemetry.observe_steps(result.steps)
        if kind == "visualizer":
            rendering = next(iter(result.values.values()))
            return Response(rendering.content, media_type=rendering.media_type)
        return JSONResponse(result.to_dict())  # already JSON-ready: no second encoding pass

    async def handler(plugin_id: str, request: Request) -> Any:
        if request.headers.get("content-type", "").startswith("multipart/form-data"):
            data, name, parameters = await form_upload(request, settings.max_bytes)

            def on_file(params: ParamsByPlugin) -> RunResult:
                transcript = transcript_from_bytes(data, name, source=name, max_bytes=settings.max_bytes)
                return engine.run(plugin_id, transcript, params)

            return await to_thread.run_sync(respond, plugin_id, parameters, on_file, limiter=engine_slot)
        try:
            body = TextRequest.model_validate_json(await request.body())
        except ValidationError as exc:
            raise RequestValidationError(exc.errors()) from None

        def on_text(params: ParamsByPlugin) -> RunResult:
            return engine.run_text(plugin_id, body.text, params, source="<request>")

        quick = last_run_s.get(plugin_id, float("inf")) <= _INLINE_MAX_SECONDS and len(body.text) <= _INLINE_MAX_CHARS
        if quick and not engine_slot.borrowed_tokens:
            return respond(plugin_id, body.parameters, on_text)
        return await to_thread.run_sync(respond, plugin_id, body.parameters, on_text, limiter=engine_slot)

    described = {"analyzer": "an analysis", "document": "a document plugin", "visualizer": "a visualizer"}[kind]
    app.post(
        f"/{route}/{{plugin_id}}",
        summary=f"Run {described} on text (JSON) or on an uploaded transcript (multipart field `file`)",
        openapi_extra={"requestBody": _REQUEST_BODY},
    )(handler)


_INLINE_MAX_CHARS = 256 * 1024
_INLINE_MAX_SECONDS = 0.05
"""A text run on the event loop is short and of a plugin that was quick last time: the loop pauses briefly."""

_REQUEST_BODY = {
    "required": True,
    "content": {
        "application/json": {"schema": TextRequest.model_json_schema()},
        "multipart/form-data": {
            "schema": {
                "type": "object",
                "required": ["file"],
                "properties": {"file": {"type": "string", "format": "binary"}},
                "additionalProperties": {"type": "string", "description": "a parameter of the plugin"},
            }
        },
    },
}


def params_by_plugin(target: str, flat: dict[str, Any]) -> ParamsByPlugin:
    """``{"name": v}`` sets the target's parameter; ``{"plugin.name": v}`` one of a plugin in its chain."""
    params: ParamsByPlugin = {}
    for key, value in flat.items():
        plugin_id, _, name = key.rpartition(".")
        params.setdefault(plugin_id or target, {})[name] = value
    return params


def _describe(values: dict[str, Any]) -> dict[str, Any]:
    """A visualizer's output inside a JSON pipeline answer: what it is, not its bytes."""
    return {
        key: {"media_type": value.media_type, "bytes": len(value.content)} if isinstance(value, Rendering) else value
        for key, value in to_jsonable(values).items()
    }


_STATUS_OF_ERROR: dict[type[QualiaError], int] = {  # most specific first
    UnknownPluginError: 404,
    UnknownTranscriptError: 404,
    InboxConflictError: 409,
    PluginExecutionError: 500,
    QualiaError: 400,
}


def _add_error_handlers(app: FastAPI) -> None:
    async def qualia_error(_: Request, exc: Exception) -> JSONResponse:
        status = next(code for kind, code in _STATUS_OF_ERROR.items() if isinstance(exc, kind))
        if status >= 500:  # a plugin bug, not bad input; a no-op unless SENTRY_DSN is set
            sentry_sdk.capture_exception(exc)
        return JSONResponse({"error": str(exc)}, status_code=status)

    for kind in _STATUS_OF_ERROR:
        app.add_exception_handler(kind, qualia_error)

    @app.exception_handler(RequestValidationError)
    async def invalid_request(_: Request, exc: RequestValidationError) -> JSONResponse:
        problems = "; ".join(f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors())
        return JSONResponse({"error": problems}, status_code=422)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        return JSONResponse({"error": str(exc.detail)}, status_code=exc.status_code, headers=exc.headers)

    @app.exception_handler(Exception)
    async def unexpected(_: Request, exc: Exception) -> JSONResponse:
        sentry_sdk.capture_exception(exc)
        return JSONResponse({"error": f"internal error ({type(exc).__name__}); see the server log"}, status_code=500)
