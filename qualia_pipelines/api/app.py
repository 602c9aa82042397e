"""The REST API: the same engine as the CLI and Dagster, over HTTP.

`create_app` wires the engines (in this process, or a pool of engine processes:
``engines.py``) into thin routes; every error leaves as JSON with a message
naming the plugin, parameter or file, never as a stack trace.
"""

import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import sentry_sdk
from fastapi import FastAPI, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.exceptions import RequestValidationError
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import JSONResponse, Response
from pydantic import ValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException

from qualia_pipelines import __version__
from qualia_pipelines.api.corpus import corpus_router
from qualia_pipelines.api.engines import (
    ENGINES_ENV,
    ROUTE_KIND,
    Engines,
    EngineTimeoutError,
    EngineUnavailableError,
    PipelineRun,
    PluginRun,
    ReadabilityCheck,
    engines_for,
)
from qualia_pipelines.api.health import health_router
from qualia_pipelines.api.limits import BodySizeLimit, form_upload
from qualia_pipelines.api.observability import Telemetry, TelemetryMiddleware
from qualia_pipelines.api.orchestrator import Orchestrator, UnknownTranscriptError
from qualia_pipelines.api.schemas import ErrorBody, PipelineRequest, PipelineStep, PluginSummary, TextRequest
from qualia_pipelines.api.security import AccessControl
from qualia_pipelines.api.transcripts import transcripts_router
from qualia_pipelines.api.webhooks import ReplayLedger, ledger_path, webhook_secrets, webhooks_router
from qualia_pipelines.core.alerts import init_sentry
from qualia_pipelines.core.contract import NothingToDrawError, PluginKind, QualiaError
from qualia_pipelines.core.engine import Engine, PluginExecutionError
from qualia_pipelines.core.inbox import InboxConflictError
from qualia_pipelines.core.registry import UnknownPluginError
from qualia_pipelines.core.settings import Settings, load_settings
from qualia_pipelines.core.workers import WorkerMemoryError

ERRORS: dict[int | str, dict[str, Any]] = {
    400: {"model": ErrorBody, "description": "Bad input: the message names the field, plugin or file."},
    401: {"model": ErrorBody, "description": "Missing or invalid X-API-Key (or webhook signature)."},
    404: {"model": ErrorBody, "description": "Unknown plugin, transcript or webhook source."},
    413: {"model": ErrorBody, "description": "Body over the size limit."},
    500: {"model": ErrorBody, "description": "A plugin failed; the message names it (reported to Sentry if set up)."},
    429: {"model": ErrorBody, "description": "Rate limit reached; the Retry-After header says when to retry."},
    503: {
        "model": ErrorBody,
        "description": "The engine process running the request stopped, or the work overran its time limit.",
    },
}


def create_app(
    settings: Settings | None = None,
    engine: Engine | None = None,
    orchestrator: Orchestrator | None = None,
    engine_processes: int | None = None,
) -> FastAPI:
    """The application, with one Dagster instance handle, running analyses in ``engine_processes`` engine
    processes (default: ``$QUALIA_API_ENGINES``, else 1), or with 0 in this process (tests, embedding).

    ``engine`` answers plugin metadata (and runs with 0 engine processes); engine processes build theirs
    from ``settings``, as ``qualia serve`` would.
    """
    settings = settings or load_settings()
    engine = engine or Engine.from_settings(settings, use_cache=settings.api_result_cache)
    orchestrator = orchestrator or Orchestrator(settings)
    processes = engine_processes if engine_processes is not None else int(os.environ.get(ENGINES_ENV) or 1)
    engines = engines_for(settings, engine, processes)
    telemetry = Telemetry()
    init_sentry(os.environ.get("SENTRY_DSN"))

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        await engines.start()
        telemetry.engine_pids = engines.pids
        try:
            yield
        finally:
            engines.close()
            orchestrator.close()

    app = FastAPI(
        title="Qualia Pipelines",
        version=__version__,
        description="Quantified, reproducible insight from meeting transcripts.",
        responses=ERRORS,
        lifespan=lifespan,
    )
    app.add_middleware(BodySizeLimit, max_bytes=settings.max_bytes + 64 * 1024)
    app.add_middleware(
        AccessControl,
        api_keys=settings.api_keys,
        per_minute=settings.rate_limit_per_minute,
        allowed_origins=settings.cors_origins,
    )
    app.add_middleware(TelemetryMiddleware, telemetry=telemetry)
    if settings.cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=settings.cors_origins,
            allow_methods=["GET", "POST"],
            allow_headers=["content-type", "x-api-key", "x-qualia-timestamp", "x-qualia-signature"],
        )
    _add_error_handlers(app)

    async def run_steps(text: str, steps: list[PipelineStep]) -> dict[str, Any]:
        sentry_sdk.set_tag("plugin", ",".join(step.plugin for step in steps))
        ran = await engines.run(PipelineRun(text, tuple((step.plugin, step.parameters) for step in steps)))
        telemetry.observe_steps(ran.steps, ran.engine_pid)
        return ran.results

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

    for route, kind in ROUTE_KIND.items():
        _add_run_routes(app, engines, settings, telemetry, route, kind)

    @app.post("/pipeline", summary="Run ordered steps, each with its parameters, on one text")
    async def pipeline(body: PipelineRequest) -> dict[str, Any]:
        results = await run_steps(body.text, body.steps)
        return {"steps": list(results), "results": results}

    async def analyse(text: str, steps: list[PipelineStep] | None) -> dict[str, Any]:
        analyzers = [PipelineStep(plugin=p.id) for p in engine.registry.plugins.values() if p.kind == "analyzer"]
        return await run_steps(text, steps or analyzers)

    async def receive(name: str, data: bytes) -> tuple[str, bool]:
        """A transcript into the inbox once an engine has read it (the server process never parses)."""
        name = orchestrator.named(name, data)
        await engines.run(ReadabilityCheck(name, data))
        return await run_in_threadpool(orchestrator.deposit, name, data)

    async def queue(name: str, data: bytes) -> str:
        return (await receive(name, data))[0]

    app.include_router(transcripts_router(orchestrator, receive, settings.max_bytes))
    app.include_router(
        webhooks_router(webhook_secrets(os.environ), ReplayLedger(ledger_path(settings.data_dir)), analyse, queue)
    )
    app.include_router(health_router(orchestrator, telemetry))
    app.include_router(corpus_router(settings.outputs_dir, engines))
    return app


def _add_run_routes(
    app: FastAPI, engines: Engines, settings: Settings, telemetry: Telemetry, route: str, kind: PluginKind
) -> None:
    """``POST /<route>/{plugin_id}``, taking a JSON body or a multipart upload, for plugins of ``kind``.

    The handler reads and checks the request; the run, including encoding the answer, is the engines'
    (see ``engines.py``), so the event loop keeps answering (health, uploads, the event stream) meanwhile.
    """

    async def handler(plugin_id: str, request: Request) -> Response:
        sentry_sdk.set_tag("plugin", plugin_id)
        if request.headers.get("content-type", "").startswith("multipart/form-data"):
            data, name, parameters = await form_upload(request, settings.max_bytes)
            run = PluginRun(plugin_id, kind, parameters, upload=data, file_name=name)
        else:
            try:
                body = TextRequest.model_validate_json(await request.body())
            except ValidationError as exc:
                raise RequestValidationError(exc.errors()) from None
            run = PluginRun(plugin_id, kind, body.parameters, text=body.text)
        answer = await engines.run(run)
        telemetry.observe_steps(answer.steps, answer.engine_pid)
        return Response(answer.content, media_type=answer.media_type)

    described = {"analyzer": "an analysis", "document": "a document plugin", "visualizer": "a visualizer"}[kind]
    app.post(
        f"/{route}/{{plugin_id}}",
        summary=f"Run {described} on text (JSON) or on an uploaded transcript (multipart field `file`)",
        openapi_extra={"requestBody": _REQUEST_BODY},
    )(handler)


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


_STATUS_OF_ERROR: dict[type[QualiaError], int] = {  # most specific first
    UnknownPluginError: 404,
    UnknownTranscriptError: 404,
    InboxConflictError: 409,
    EngineUnavailableError: 503,
    EngineTimeoutError: 503,
    WorkerMemoryError: 413,
    PluginExecutionError: 500,
    NothingToDrawError: 422,
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
