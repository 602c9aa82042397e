"""Where the API's analyses run: engine processes fed from one queue (or, for tests, the server process).

With several engine processes behind one HTTP process, each request goes to the next engine that is
free, whichever connection it came on. Separate server processes can only balance connections: a
client that reuses its few keep-alive connections can keep one process busy while another idles, and
that imbalance, not the work, is what set the latency at 100 requests/s on 2 cores.

Reading, analysing and rendering never happen in the server process: a hostile file can hold an
engine, never the event loop. An engine that overruns the work deadline is killed and replaced, as is
one that dies; only the request it had fails, and other engines' requests go on.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from typing import Any, TypeVar

from anyio import CapacityLimiter, to_thread
from starlette.responses import JSONResponse

from qualia_pipelines.core.contract import PluginKind, QualiaError, Rendering
from qualia_pipelines.core.engine import Engine, ParamsByPlugin, StepRecord
from qualia_pipelines.core.pipeline_config import Step, checked_steps
from qualia_pipelines.core.readers import transcript_from_bytes, transcript_from_text
from qualia_pipelines.core.settings import Settings
from qualia_pipelines.core.storage import to_jsonable
from qualia_pipelines.core.text import load_language_models
from qualia_pipelines.core.workers import WorkerGoneError, WorkerLostError, WorkerProcess, WorkerTimeoutError

T = TypeVar("T")
EngineCall = Callable[[Engine], T]
"""A run to do with an engine: a picklable callable (a dataclass instance), so a process can take it."""

ROUTE_KIND: dict[str, PluginKind] = {"analyze": "analyzer", "process": "document", "visualize": "visualizer"}
ENGINE_NICENESS = 5
"""Engines yield the CPU to the server process: when every core is busy, reading a request or sending an
answer (a millisecond) need not wait behind an analysis. On the 2-core bench VM the effect is within its
noise (p95 at 100 requests/s: 46-90 ms in 7 runs with it, 64-91 ms in 5 without)."""
ENGINES_ENV = "QUALIA_API_ENGINES"
"""How many engine processes the API starts (``qualia serve --workers N`` sets it; unset: 1); 0 runs
analyses in the server process, which only tests and embedding should do."""


class EngineUnavailableError(QualiaError):
    """An engine process stopped while it had the request (killed, out of memory); a new one is started."""


class EngineTimeoutError(QualiaError):
    """The request's work took longer than the work deadline; its engine process was stopped and replaced."""


class LocalEngine:
    """Runs in this process on a worker thread, one run at a time: for tests and embedding, not for serving
    untrusted clients (a run holding the interpreter lock would stall the event loop)."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._slot = CapacityLimiter(1)

    async def run(self, call: EngineCall[T]) -> T:
        return await to_thread.run_sync(call, self.engine, limiter=self._slot)

    async def start(self) -> None:
        """Nothing to start: the engine lives in this process."""

    def pids(self) -> list[int]:
        return [os.getpid()]

    def close(self) -> None:
        """Nothing to stop: the engine lives in this process."""


class EnginePool:
    """``processes`` engine processes, each running one request at a time, taking the next from one queue."""

    def __init__(self, settings: Settings, processes: int) -> None:
        self.settings = settings
        self.processes = processes
        self._idle: asyncio.Queue[WorkerProcess] = asyncio.Queue()
        self._engines: set[WorkerProcess] = set()
        self._starting: set[asyncio.Task[None]] = set()
        self._closed = False

    def _new_engine(self) -> WorkerProcess:
        return WorkerProcess(
            partial(_engine_of, self.settings),
            niceness=ENGINE_NICENESS,
            memory_bytes=self.settings.engine_memory_bytes,
        )

    async def start(self) -> None:
        """Start every engine now, not on the first requests."""
        started = await asyncio.gather(*(to_thread.run_sync(self._new_engine) for _ in range(self.processes)))
        for engine in started:
            self._engines.add(engine)
            self._idle.put_nowait(engine)

    def pids(self) -> list[int]:
        """The live engines' process ids (a replaced engine's drops out, its successor's comes in)."""
        return sorted(engine.pid for engine in self._engines)

    async def run(self, call: EngineCall[T]) -> T:
        while True:
            engine = await self._idle.get()
            try:
                return await to_thread.run_sync(engine.call, call, self.settings.work_timeout_s)
            except WorkerGoneError:
                continue  # it had died idle: the call never ran, the next engine takes it
            except WorkerTimeoutError:
                raise EngineTimeoutError(
                    f"the request took longer than the {self.settings.work_timeout_s:g} s work limit; its engine "
                    "process was stopped"
                ) from None
            except WorkerLostError:
                raise EngineUnavailableError(
                    "an engine process stopped while running this request; it is being replaced, retry the request"
                ) from None
            finally:
                self._release(engine)

    def _release(self, engine: WorkerProcess) -> None:
        """Back to the queue if it is well; else replaced, in the background, by a new engine."""
        if engine.alive and not self._closed:
            self._idle.put_nowait(engine)
            return
        engine.stop()
        self._engines.discard(engine)
        if not self._closed:
            task = asyncio.get_running_loop().create_task(self._add_engine())
            self._starting.add(task)
            task.add_done_callback(self._starting.discard)

    async def _add_engine(self) -> None:
        while not self._closed:
            try:
                engine = await to_thread.run_sync(self._new_engine)
            except Exception:  # memory short right now, a plugin folder being edited: the pool must not stay short
                await asyncio.sleep(1)
                continue
            if self._closed:
                engine.stop()
                return
            self._engines.add(engine)
            self._idle.put_nowait(engine)
            return

    def close(self) -> None:
        self._closed = True
        for engine in list(self._engines):
            engine.stop()
        self._engines.clear()


@dataclass(frozen=True)
class Answer:
    """A run route's answer as an engine gives it: the body ready to send, and what to count."""

    content: bytes
    media_type: str
    steps: tuple[StepRecord, ...]
    engine_pid: int


@dataclass(frozen=True)
class PluginRun:
    """One run route's request, as an engine runs it (in this process or an engine process: it pickles)."""

    plugin_id: str
    kind: PluginKind
    parameters: dict[str, Any]
    text: str | None = None
    upload: bytes | None = None  # with file_name, an uploaded transcript instead of text
    file_name: str = "<request>"

    def __call__(self, engine: Engine) -> Answer:
        plugin = engine.registry.get(self.plugin_id)
        if plugin.kind != self.kind:
            use = next(name for name, k in ROUTE_KIND.items() if k == plugin.kind)
            raise QualiaError(f"plugin {self.plugin_id!r} is a {plugin.kind}; use POST /{use}/{self.plugin_id}")
        params = params_by_plugin(self.plugin_id, self.parameters)
        if self.upload is not None:
            transcript = transcript_from_bytes(
                self.upload, self.file_name, source=self.file_name, max_bytes=engine.max_bytes
            )
            result = engine.run(self.plugin_id, transcript, params)
        else:
            result = engine.run_text(self.plugin_id, self.text or "", params, source="<request>")
        if plugin.kind == "visualizer":
            rendering = next(iter(result.values.values()))
            return Answer(rendering.content, rendering.media_type, result.steps, os.getpid())
        body = JSONResponse(result.to_dict()).body  # encoded here: the server process only forwards bytes
        return Answer(bytes(body), "application/json", result.steps, os.getpid())


@dataclass(frozen=True)
class PipelineRun:
    """Ordered steps, each with its parameters, on one text (``POST /pipeline`` and webhooks)."""

    text: str
    steps: tuple[tuple[str, dict[str, Any]], ...]

    def __call__(self, engine: Engine) -> PipelineAnswer:
        checked = checked_steps("pipeline", [Step(plugin, parameters) for plugin, parameters in self.steps], engine)
        params = {step.plugin: step.parameters for step in checked}
        transcript = transcript_from_text(self.text, source="<request>")
        answer = PipelineAnswer(engine_pid=os.getpid())
        for step in checked:
            result = engine.run(step.plugin, transcript, params)
            answer.steps.extend(result.steps)
            visual = result.plugin.kind == "visualizer"
            answer.results[step.plugin] = _describe(result.values) if visual else result.to_dict()
        return answer


@dataclass(frozen=True)
class ReadabilityCheck:
    """An upload read as the inbox sensor will read it, only to refuse what cannot be read (the transcript
    stays in the engine process)."""

    file_name: str
    data: bytes

    def __call__(self, engine: Engine) -> None:
        transcript_from_bytes(self.data, self.file_name, source=self.file_name, max_bytes=engine.max_bytes)


@dataclass
class PipelineAnswer:
    engine_pid: int
    results: dict[str, Any] = field(default_factory=dict)
    steps: list[StepRecord] = field(default_factory=list)


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


Engines = LocalEngine | EnginePool


def engines_for(settings: Settings, engine: Engine, processes: int) -> Engines:
    return EnginePool(settings, processes) if processes > 0 else LocalEngine(engine)


def _engine_of(settings: Settings) -> Engine:
    """An engine process's state, built once at its start, language models included."""
    load_language_models()
    return Engine.from_settings(settings, use_cache=settings.api_result_cache)
