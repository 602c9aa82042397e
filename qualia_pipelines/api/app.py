"""The REST API: the same engine as the CLI and Dagster, over HTTP.

`create_app` wires one engine (plugins load once per worker) into thin routes;
every error leaves as JSON with a message naming the plugin, parameter or file,
never as a stack trace.
"""

from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from pydantic import ValidationError
from starlette.datastructures import UploadFile
from starlette.exceptions import HTTPException as StarletteHTTPException

from qualia_pipelines import __version__
from qualia_pipelines.api.limits import BodySizeLimit, read_upload
from qualia_pipelines.api.schemas import ErrorBody, PipelineRequest, PluginSummary, TextRequest
from qualia_pipelines.core.contract import PluginKind, QualiaError, Rendering
from qualia_pipelines.core.engine import Engine, ParamsByPlugin
from qualia_pipelines.core.pipeline_config import Step, checked_steps
from qualia_pipelines.core.readers import transcript_from_bytes, transcript_from_text
from qualia_pipelines.core.registry import UnknownPluginError
from qualia_pipelines.core.settings import Settings, load_settings
from qualia_pipelines.core.storage import to_jsonable
from qualia_pipelines.core.transcript import Transcript

ERRORS: dict[int | str, dict[str, Any]] = {
    400: {"model": ErrorBody, "description": "Bad input: the message names the field, plugin or file."},
    404: {"model": ErrorBody, "description": "Unknown plugin."},
    413: {"model": ErrorBody, "description": "Body over the size limit."},
}
_ROUTE_KIND: dict[str, PluginKind] = {"analyze": "analyzer", "process": "document", "visualize": "visualizer"}


def create_app(settings: Settings | None = None, engine: Engine | None = None) -> FastAPI:
    settings = settings or load_settings()
    engine = engine or Engine.from_settings(settings, use_cache=False)
    app = FastAPI(
        title="Qualia Pipelines",
        version=__version__,
        description="Quantified, reproducible insight from meeting transcripts.",
        responses=ERRORS,
    )
    app.add_middleware(BodySizeLimit, max_bytes=settings.max_bytes + 64 * 1024)
    _add_error_handlers(app)

    @app.get("/", summary="Name, version and links")
    def root() -> dict[str, Any]:
        return {
            "name": "Qualia Pipelines",
            "version": __version__,
            "links": {"docs": "/docs", "openapi": "/openapi.json", "plugins": "/plugins"},
        }

    @app.get("/plugins", summary="Every available plugin with its parameter schema")
    def plugins() -> list[PluginSummary]:
        return [PluginSummary.of(plugin) for plugin in engine.registry.plugins.values()]

    @app.get("/plugins/{plugin_id}", summary="One plugin's metadata and parameter schema")
    def plugin(plugin_id: str) -> PluginSummary:
        return PluginSummary.of(engine.registry.get(plugin_id))

    for route, kind in _ROUTE_KIND.items():
        _add_run_routes(app, engine, settings, route, kind)

    @app.post("/pipeline", summary="Run ordered steps, each with its parameters, on one text")
    def pipeline(body: PipelineRequest) -> dict[str, Any]:
        steps = checked_steps("pipeline", [Step(step.plugin, step.parameters) for step in body.steps], engine)
        ids = [step.plugin for step in steps]
        params = {step.plugin: step.parameters for step in steps}
        transcript = transcript_from_text(body.text, source="<request>")
        results = {}
        for plugin_id in ids:
            result = engine.run(plugin_id, transcript, params)
            results[plugin_id] = _describe(result.values) if result.plugin.kind == "visualizer" else result.to_dict()
        return {"steps": ids, "results": results}

    return app


def _add_run_routes(app: FastAPI, engine: Engine, settings: Settings, route: str, kind: PluginKind) -> None:
    """``POST /<route>/{plugin_id}``, taking a JSON body or a multipart upload, for plugins of ``kind``."""

    def run(plugin_id: str, transcript: Transcript, parameters: dict[str, Any]) -> Any:
        plugin = engine.registry.get(plugin_id)
        if plugin.kind != kind:
            use = next(name for name, k in _ROUTE_KIND.items() if k == plugin.kind)
            raise QualiaError(f"plugin {plugin_id!r} is a {plugin.kind}; use POST /{use}/{plugin_id}")
        result = engine.run(plugin_id, transcript, params_by_plugin(plugin_id, parameters))
        if kind == "visualizer":
            rendering = next(iter(result.values.values()))
            return Response(rendering.content, media_type=rendering.media_type)
        return result.to_dict()

    async def handler(plugin_id: str, request: Request) -> Any:
        if request.headers.get("content-type", "").startswith("multipart/form-data"):
            form = await request.form(max_part_size=settings.max_bytes)
            upload = form.get("file")
            if not isinstance(upload, UploadFile):
                raise QualiaError("multipart body needs a file in the field 'file'")
            data, name = await read_upload(upload, settings.max_bytes)
            parameters = {key: value for key, value in form.items() if key != "file"}
            transcript = transcript_from_bytes(data, name, source=name, max_bytes=settings.max_bytes)
            return run(plugin_id, transcript, parameters)
        try:
            body = TextRequest.model_validate_json(await request.body())
        except ValidationError as exc:
            raise RequestValidationError(exc.errors()) from None
        return run(plugin_id, transcript_from_text(body.text, source="<request>"), body.parameters)

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


def _add_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(UnknownPluginError)
    async def unknown_plugin(_: Request, exc: UnknownPluginError) -> JSONResponse:
        return JSONResponse({"error": str(exc)}, status_code=404)

    @app.exception_handler(QualiaError)
    async def bad_input(_: Request, exc: QualiaError) -> JSONResponse:
        return JSONResponse({"error": str(exc)}, status_code=400)

    @app.exception_handler(RequestValidationError)
    async def invalid_request(_: Request, exc: RequestValidationError) -> JSONResponse:
        problems = "; ".join(f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors())
        return JSONResponse({"error": problems}, status_code=422)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        return JSONResponse({"error": str(exc.detail)}, status_code=exc.status_code, headers=exc.headers)

    @app.exception_handler(Exception)
    async def unexpected(_: Request, exc: Exception) -> JSONResponse:
        return JSONResponse({"error": f"internal error ({type(exc).__name__}); see the server log"}, status_code=500)
