"""Where the API's analyses run: in the server process, or in a pool of engine processes fed from one queue.

With several engine processes behind one HTTP process, each request goes to the next engine that is
free, whichever connection it came on. Separate server processes can only balance connections: a
client that reuses its few keep-alive connections can keep one process busy while another idles, and
that imbalance, not the work, is what set the latency at 100 requests/s on 2 cores.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import os
import signal
import threading
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from multiprocessing.context import BaseContext
from typing import Any, TypeVar

from anyio import CapacityLimiter, to_thread
from starlette.responses import JSONResponse

from qualia_pipelines.core.contract import PluginKind, QualiaError, Rendering
from qualia_pipelines.core.engine import Engine, ParamsByPlugin, StepRecord
from qualia_pipelines.core.pipeline_config import Step, checked_steps
from qualia_pipelines.core.readers import transcript_from_bytes, transcript_from_text
from qualia_pipelines.core.settings import Settings
from qualia_pipelines.core.storage import to_jsonable

T = TypeVar("T")
EngineCall = Callable[[Engine], T]
"""A run to do with an engine: a picklable callable (a dataclass instance), so a process can take it."""

ROUTE_KIND: dict[str, PluginKind] = {"analyze": "analyzer", "process": "document", "visualize": "visualizer"}
ENGINE_NICENESS = 5
"""Engines yield the CPU to the server process: when every core is busy, reading a request or sending an
answer (a millisecond) need not wait behind an analysis. On the 2-core bench VM the effect is within its
noise (p95 at 100 requests/s: 46-90 ms in 7 runs with it, 64-91 ms in 5 without)."""
_START_TIMEOUT_S = 120
ENGINES_ENV = "QUALIA_API_ENGINES"
"""How many engine processes the API starts (``qualia serve --workers N`` sets it); 0 or 1: none, analyses
run in the server process."""


class EngineUnavailableError(QualiaError):
    """An engine process stopped while it had the request (killed, out of memory); a new one is started."""


class LocalEngine:
    """Runs in this process on a worker thread, one run at a time: CPU-bound threads only contend for the GIL."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._slot = CapacityLimiter(1)

    async def run(self, call: EngineCall[T]) -> T:
        return await to_thread.run_sync(call, self.engine, limiter=self._slot)

    async def start(self) -> list[int]:
        return [os.getpid()]

    def close(self) -> None:
        """Nothing to stop: the engine lives in this process."""


class EnginePool:
    """``processes`` engine processes, each running one request at a time, taking the next from one queue."""

    def __init__(self, settings: Settings, processes: int) -> None:
        self.settings = settings
        self.processes = processes
        self._lock = threading.Lock()
        self._executor = self._new_executor()

    def _new_executor(self) -> ProcessPoolExecutor:
        # never fork the server itself (its threads and open instance): engines start from a fork server that
        # has imported the engine once, or are spawned where there is none (Windows)
        context: BaseContext
        if "forkserver" in multiprocessing.get_all_start_methods():
            context = multiprocessing.get_context("forkserver")
            context.set_forkserver_preload([__name__])
        else:
            context = multiprocessing.get_context("spawn")
        return ProcessPoolExecutor(self.processes, mp_context=context, initializer=_start, initargs=(self.settings,))

    async def run(self, call: EngineCall[T]) -> T:
        executor = self._executor
        try:
            future = executor.submit(_run, call)
        except BrokenProcessPool:  # an engine stopped since the last request; this one has not run: resubmit
            self._replace(executor)
            executor = self._executor
            future = executor.submit(_run, call)
        try:
            return await asyncio.wrap_future(future)
        except BrokenProcessPool:
            self._replace(executor)
            raise EngineUnavailableError(
                "an engine process stopped while running this request; it is being replaced, retry the request"
            ) from None

    async def start(self) -> list[int]:
        """Start every engine now, not on the first requests, and give their pids.

        Rounds of one call per engine until every engine has answered one: each call holds its engine
        a moment, so the engines that are up cannot take all the calls while another is still starting.
        """
        pids: set[int] = set()
        deadline = time.monotonic() + _START_TIMEOUT_S
        while len(pids) < self.processes:
            if time.monotonic() > deadline:
                raise EngineUnavailableError(
                    f"only {len(pids)} of {self.processes} engine processes started within {_START_TIMEOUT_S} s"
                )
            pids.update(await asyncio.gather(*(self.run(_held_pid) for _ in range(self.processes))))
        return sorted(pids)

    def _replace(self, broken: ProcessPoolExecutor) -> None:
        with self._lock:
            if self._executor is broken:
                self._executor = self._new_executor()
        broken.shutdown(wait=False, cancel_futures=True)

    def close(self) -> None:
        self._executor.shutdown(wait=True, cancel_futures=True)


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
    return EnginePool(settings, processes) if processes > 1 else LocalEngine(engine)


_engine: Engine | None = None


def _start(settings: Settings) -> None:
    """Engine process start-up. Ctrl-C is the server's to handle (it stops the pool), and errors go back to
    the server, which answers and reports them with the request's context."""
    global _engine
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    os.nice(ENGINE_NICENESS)
    _engine = Engine.from_settings(settings, use_cache=settings.api_result_cache)


def _run(call: EngineCall[T]) -> T:
    assert _engine is not None, "engine process used before its start-up"
    return call(_engine)


def _held_pid(_: Engine) -> int:
    time.sleep(0.05)
    return os.getpid()
