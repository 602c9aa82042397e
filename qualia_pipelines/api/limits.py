"""Upload protection: a body limit enforced while the bytes arrive, and safe file names."""

import json
import unicodedata
from collections.abc import Sequence
from pathlib import PurePosixPath, PureWindowsPath
from typing import Any

from starlette.datastructures import UploadFile
from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from qualia_pipelines.core.contract import QualiaError

_CHUNK = 64 * 1024


class BodyTooLargeError(Exception):
    pass


class BodySizeLimit:
    """Refuses bodies over ``max_bytes`` with 413: by Content-Length up front, else by counting as they stream.

    The count happens in ``receive``, so no handler (nor the multipart parser)
    ever holds more than the limit, and a lying Content-Length changes nothing.
    """

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope["headers"]).get(b"content-length")
        if declared and declared.isdigit() and int(declared) > self.max_bytes:
            await self._refuse(send)
            return
        received = 0
        started = False

        async def counted_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    raise BodyTooLargeError
            return message

        async def tracked_send(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, counted_receive, tracked_send)
        except BodyTooLargeError:
            if not started:
                await self._refuse(send)

    async def _refuse(self, send: Send) -> None:
        await send_json_error(send, 413, f"request body is over the limit of {self.max_bytes:,} bytes")


async def send_json_error(send: Send, status: int, message: str, headers: Sequence[tuple[bytes, bytes]] = ()) -> None:
    """An ``{"error": message}`` answer straight from ASGI middleware, before any route runs."""
    body = json.dumps({"error": message}).encode()
    start = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()), *headers]
    await send({"type": "http.response.start", "status": status, "headers": start})
    await send({"type": "http.response.body", "body": body})


MAX_NAME_BYTES = 200
"""Room for the inbox's own suffixes within the 255 bytes most file systems allow a name."""


def safe_file_name(raw: str | None) -> str:
    """The last path component only, whatever separators the client used: no traversal, no hidden names,
    no control characters, and short enough for any file system."""
    name = PureWindowsPath(PurePosixPath(raw or "").name).name.strip().lstrip(".")
    if not name:
        raise QualiaError(f"upload: file name {raw!r} is empty or not a file name")
    if any(unicodedata.category(ch) in ("Cc", "Cf", "Cs") for ch in name):
        raise QualiaError(f"upload: file name {name!r} holds control or invisible characters")
    if len(name.encode("utf-8")) > MAX_NAME_BYTES:
        raise QualiaError(f"upload: file name {name[:40]!r}... is over {MAX_NAME_BYTES} bytes")
    return name


async def form_upload(request: Request, max_bytes: int) -> tuple[bytes, str, dict[str, Any]]:
    """A multipart body's file (field ``file``) read in chunks up to ``max_bytes``, its sanitised name,
    and the other form fields."""
    form = await request.form(max_part_size=max_bytes)
    upload = form.get("file")
    if not isinstance(upload, UploadFile):
        raise QualiaError("multipart body needs a file in the field 'file'")
    name = safe_file_name(upload.filename)
    chunks, size = [], 0
    while chunk := await upload.read(_CHUNK):
        size += len(chunk)
        if size > max_bytes:
            raise QualiaError(f"{name}: file is over the size limit of {max_bytes:,} bytes")
        chunks.append(chunk)
    fields = {key: value for key, value in form.items() if key != "file"}
    return b"".join(chunks), name, fields  # emptiness, format and binary content are the readers' to judge
