"""Child processes that run untrusted work with a deadline and a memory cap, one call at a time.

Reading, analysing and rendering a file someone else sent must not be able to stall or sink the process
that asked for it (an API server, a sensor's tick): the work runs in a worker process, and a call that
overruns its deadline gets the worker killed and replaced, as does a worker that dies (out of memory,
killed). Only that call fails; other workers and their calls are untouched. The API keeps a pool of
these (``api/engines.py``); the inbox sensor checks new files in one.
"""

from __future__ import annotations

import multiprocessing
import os
import resource
import signal
from collections.abc import Callable
from multiprocessing.connection import Connection
from multiprocessing.context import BaseContext
from typing import Any, TypeVar

from qualia_pipelines.core.contract import QualiaError

T = TypeVar("T")
Call = Callable[[Any], T]
"""A picklable callable (a dataclass instance, a module-level function) given the worker's state."""

_START_TIMEOUT_S = 120.0
_PRELOADED = ["qualia_pipelines.core.engine"]


class WorkerTimeoutError(QualiaError):
    """A call took longer than its deadline; its worker was stopped."""


class WorkerLostError(QualiaError):
    """The worker stopped while it had the call (killed, out of memory)."""


class WorkerGoneError(WorkerLostError):
    """The worker had stopped before the call reached it: the call never ran, another worker may take it."""


class WorkerMemoryError(QualiaError):
    """The call needed more memory than the worker's cap; the worker is retired after answering."""


def _context() -> BaseContext:
    """A fork server that has imported the engine once (quick starts, and the caller itself is never
    forked: its threads and open handles stay its own); plain spawn where there is none (Windows)."""
    if "forkserver" in multiprocessing.get_all_start_methods():
        context = multiprocessing.get_context("forkserver")
        context.set_forkserver_preload(_PRELOADED)
        return context
    return multiprocessing.get_context("spawn")


class WorkerProcess:
    """One child process that builds its state with ``setup`` and then runs calls on it, one at a time.

    ``memory_bytes`` caps the child's private writable memory (``RLIMIT_DATA``: the heap and arrays, not
    address space merely reserved, which browsers that render charts reserve by the terabyte), so an
    input that escapes every other bound kills one worker, not the machine.
    """

    def __init__(
        self,
        setup: Callable[[], Any],
        *,
        niceness: int = 0,
        memory_bytes: int = 0,
    ) -> None:
        context = _context()
        self._connection, child = context.Pipe()
        self._process = context.Process(
            target=_serve, args=(child, setup, niceness, memory_bytes), daemon=True, name="qualia-worker"
        )
        self._process.start()
        child.close()
        if not self._connection.poll(_START_TIMEOUT_S):
            self.stop()
            raise WorkerLostError(f"a worker process did not start within {_START_TIMEOUT_S:.0f} s")
        try:
            ok, started = self._connection.recv()
        except (EOFError, OSError):
            self.stop()
            code = self._process.exitcode
            raise WorkerLostError(f"a worker process stopped while starting (exit code {code})") from None
        if not ok:
            self.stop()
            raise started
        self.pid: int = started

    def call(self, call: Call[T], timeout_s: float) -> T:
        """``call(state)`` in the worker; its exception is raised here as it was raised there.

        Over ``timeout_s`` the worker is killed (WorkerTimeoutError); if it dies meanwhile, WorkerLostError.
        Either way this worker is done: the caller replaces it.
        """
        try:
            self._connection.send(call)
        except OSError:
            self.stop()
            raise WorkerGoneError("the worker process had stopped before the call reached it") from None
        try:
            if not self._connection.poll(timeout_s):
                self.stop()
                raise WorkerTimeoutError(f"the work took longer than its {timeout_s:g} s limit and was stopped")
            ok, value = self._connection.recv()
        except (EOFError, OSError):
            self.stop()
            raise WorkerLostError("the worker process stopped while running this (killed, or out of memory)") from None
        if ok:
            return value
        if isinstance(value, WorkerMemoryError):  # its heap may be in pieces: a fresh worker takes the next call
            self.stop()
        raise value

    @property
    def alive(self) -> bool:
        return self._process.is_alive() and not self._connection.closed

    def stop(self) -> None:
        """Kill the worker and reap it; a no-op once stopped."""
        if self._process.is_alive():
            self._process.kill()
        self._process.join(timeout=30)
        self._connection.close()


class SupervisedWorker:
    """One worker, started on first use and replaced after a call that stopped it (overrun, lost); a call
    that never reached its worker (it had died idle) goes to the replacement, as the API's pool does."""

    def __init__(self, setup: Callable[[], Any], *, memory_bytes: int = 0) -> None:
        self._setup = setup
        self._memory_bytes = memory_bytes
        self._worker: WorkerProcess | None = None

    def call(self, call: Call[T], timeout_s: float) -> T:
        try:
            return self._live_worker().call(call, timeout_s)
        except WorkerGoneError:
            return self._live_worker().call(call, timeout_s)

    def _live_worker(self) -> WorkerProcess:
        if self._worker is None or not self._worker.alive:
            self._worker = WorkerProcess(self._setup, memory_bytes=self._memory_bytes)
        return self._worker


def no_state() -> None:
    """The ``setup`` of a worker whose calls need nothing prepared."""


def _serve(connection: Connection, setup: Callable[[], Any], niceness: int, memory_bytes: int) -> None:
    """The worker's life: limits, state, then one call at a time until the pipe closes.

    Ctrl-C is the parent's to handle (it stops its workers); errors go back to the parent, which
    answers or reports them with their context. SIGTERM stops the worker even when the parent was started
    ignoring it (``nohup``, some supervisors): the fork server passes that on, and a worker deaf to it held
    its parent's exit for ever (multiprocessing terminates daemonic children, then waits for them).
    """
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    if niceness:
        os.nice(niceness)
    if memory_bytes:
        resource.setrlimit(resource.RLIMIT_DATA, (memory_bytes, memory_bytes))
    try:
        state = setup()
    except Exception as exc:
        connection.send((False, _sendable(exc)))
        return
    connection.send((True, os.getpid()))
    while True:
        try:
            call = connection.recv()
        except (EOFError, OSError):
            return
        try:
            answer = (True, call(state))
        except MemoryError:
            limit = f"{memory_bytes / 2**20:,.0f} MB" if memory_bytes else "the machine's memory"
            answer = (False, WorkerMemoryError(f"the input needs more memory than the limit of {limit}"))
        except Exception as exc:
            answer = (False, exc)
        try:
            connection.send(answer)
        except Exception:  # an answer or exception that does not pickle: say so, as a plain error
            connection.send((False, _sendable(answer[1])))


def _sendable(value: Any) -> Exception:
    shown = value if isinstance(value, BaseException) else type(value).__name__
    return RuntimeError(f"{type(value).__name__}: {shown}")
