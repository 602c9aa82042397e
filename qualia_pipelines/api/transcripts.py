"""``/transcripts``: uploads into the pipeline's inbox, statuses from the Dagster instance, reports, runs now."""

from collections.abc import Awaitable, Callable
from typing import Literal

from fastapi import APIRouter, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import FileResponse

from qualia_pipelines.api.limits import form_upload
from qualia_pipelines.api.orchestrator import Orchestrator
from qualia_pipelines.api.schemas import (
    RunsLaunched,
    TranscriptAccepted,
    TranscriptDetail,
    TranscriptPage,
    TranscriptState,
)
from qualia_pipelines.core.contract import QualiaError
from qualia_pipelines.core.figures import PLOTLY_JS, plotly_js_path
from qualia_pipelines.core.statuses import TranscriptStatus
from qualia_pipelines.orchestration.status import MAX_PAGE_SIZE, PAGE_SIZE

_UPLOAD_BODY = {
    "required": True,
    "content": {
        "multipart/form-data": {
            "schema": {
                "type": "object",
                "required": ["file"],
                "properties": {"file": {"type": "string", "format": "binary"}},
            }
        }
    },
}


Receive = Callable[[str, bytes], Awaitable[tuple[str, bool]]]
"""Check an upload in an engine and add it to the inbox: its key and whether it is new."""


def transcripts_router(orchestrator: Orchestrator, receive: Receive, max_bytes: int) -> APIRouter:
    router = APIRouter(prefix="/transcripts", tags=["transcripts"])

    @router.post(
        "",
        status_code=202,
        summary="Add a transcript to the inbox (multipart field `file`); the inbox sensor, or `materialize=now`, "
        "processes it",
        openapi_extra={"requestBody": _UPLOAD_BODY},
        responses={409: {"description": "A different file of the same name is already in the inbox."}},
    )
    async def upload(
        request: Request, materialize: Literal["now"] | None = Query(None, description="`now`: launch its run now.")
    ) -> TranscriptAccepted:
        if not request.headers.get("content-type", "").startswith("multipart/form-data"):
            raise QualiaError("send the transcript as multipart/form-data in the field 'file'")
        data, name, _ = await form_upload(request, max_bytes)
        key, new = await receive(name, data)
        run_ids = await run_in_threadpool(orchestrator.materialize, key) if materialize == "now" else []
        return TranscriptAccepted.of(key, new, run_ids)

    @router.get(
        "",
        summary="The transcripts with their status, a page at a time: those the pipeline registered, in the order "
        "it registered them, then the inbox files it has not seen yet",
    )
    def listing(
        limit: int = Query(PAGE_SIZE, ge=1, le=MAX_PAGE_SIZE, description="Transcripts per page."),
        cursor: str | None = Query(None, max_length=2000, description="`next_cursor` of the previous page."),
        status: TranscriptStatus | None = Query(None, description="Only transcripts with this status."),
    ) -> TranscriptPage:
        items, next_cursor = orchestrator.page(limit, cursor, status)
        return TranscriptPage(items=[TranscriptState.model_validate(item) for item in items], next_cursor=next_cursor)

    @router.get("/{key}", summary="One transcript: status per asset, key figures, output files, report link")
    def detail(key: str) -> TranscriptDetail:
        return TranscriptDetail.model_validate({**orchestrator.status(key), "report": f"/transcripts/{key}/report"})

    @router.get(
        "/{key}/report",
        summary="The transcript's HTML report",
        response_class=FileResponse,
        responses={200: {"content": {"text/html": {}}}},
    )
    def report(key: str) -> FileResponse:
        return FileResponse(orchestrator.report_path(key), media_type="text/html")

    @router.get(
        f"/{{key}}/{PLOTLY_JS}",
        summary="plotly.js, which the report's charts load from beside it (one file for every report)",
        response_class=FileResponse,
        responses={200: {"content": {"text/javascript": {}}}},
    )
    def report_script(key: str) -> FileResponse:
        orchestrator.report_path(key)  # 404 unless the transcript has a report
        return FileResponse(
            plotly_js_path(), media_type="text/javascript", headers={"Cache-Control": "public, max-age=86400"}
        )

    @router.post("/{key}/materialize", status_code=202, summary="Launch the transcript's run now")
    def materialize_now(key: str) -> RunsLaunched:
        return RunsLaunched(key=key, status="queued", run_ids=orchestrator.materialize(key))

    return router
