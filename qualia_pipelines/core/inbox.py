"""Noticing files that have finished arriving in a folder.

A file is settled once its size and modification time are the same at two
looks taken some time apart, or once nothing has written to it for a quiet
period (at its first look, or after waiting for that): a transcript still being
copied keeps changing and is left for a later look. Shared by `qualia watch`
and the inbox sensor.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Collection, Iterator
from dataclasses import astuple, dataclass, field
from pathlib import Path

from qualia_pipelines.core.contract import QualiaError
from qualia_pipelines.core.readers import SUPPORTED_EXTENSIONS
from qualia_pipelines.core.storage import create_file_atomic


@dataclass(frozen=True)
class Observation:
    """A file's look: what changes when anything writes it (ctime also on renames and links)."""

    size: int
    mtime_ns: int
    ctime_ns: int = 0
    device: int = 0

    @classmethod
    def of(cls, stat: os.stat_result) -> Observation:
        return cls(stat.st_size, stat.st_mtime_ns, stat.st_ctime_ns, stat.st_dev)


def observe(folder: Path) -> dict[str, Observation]:
    """The look of every supported, non-hidden file below ``folder``, by path (in sorted order)."""
    seen: dict[str, Observation] = {}
    for name in sorted(supported_names(folder)):
        path = os.path.join(folder, name)
        try:
            seen[path] = Observation.of(os.stat(path))
        except OSError:  # vanished between listing and look
            continue
    return seen


def supported_names(folder: Path) -> Iterator[str]:
    """Paths relative to ``folder`` (with ``/``) of its supported, non-hidden files, without a stat each.

    A listing of names is what most callers need (which files are there), and at 100,000 files it takes a
    tenth of the time of looking at each one (``observe``).
    """
    yield from _names_below(folder, "")


def _names_below(folder: Path, prefix: str) -> Iterator[str]:
    """Links to files are followed, links to folders are not (a link loop would never end)."""
    try:
        entries = list(os.scandir(folder))
    except OSError:  # no such folder, or it vanished
        return
    for entry in entries:
        name = entry.name
        try:
            supported = name[0] != "." and name[name.rfind(".") :].lower() in SUPPORTED_EXTENSIONS
            if supported and entry.is_file(follow_symlinks=True):
                yield prefix + name
            elif entry.is_dir(follow_symlinks=False):
                yield from _names_below(Path(entry.path), f"{prefix}{name}/")
        except OSError:  # vanished between listing and look
            continue


QUIET_S = 5.0
"""A file untouched this long is not being written: it need not wait for a second look."""


def settled(previous: dict[str, Observation], current: dict[str, Observation], now_ns: int | None = None) -> list[str]:
    """Paths unchanged since the previous look, or first seen with a modification older than QUIET_S."""
    quiet_before = (now_ns if now_ns is not None else time.time_ns()) - int(QUIET_S * 1e9)
    return [
        path
        for path, now in current.items()
        if previous.get(path) == now or (path not in previous and now.mtime_ns <= quiet_before)
    ]


def settled_after_waiting(arriving: dict[str, Observation], longest_s: float) -> list[str]:
    """Paths of ``arriving`` (written within QUIET_S) unchanged and untouched for QUIET_S once the newest of
    them has been, waiting for that at most ``longest_s``: a drop copied in just now is taken QUIET_S after
    its last write rather than at a later look."""
    if not arriving or longest_s <= 0:
        return []
    newest_ns = max(look.mtime_ns for look in arriving.values())
    time.sleep(min(longest_s, max(0.0, (newest_ns - time.time_ns()) / 1e9 + QUIET_S)))
    again: dict[str, Observation] = {}
    for path in arriving:
        try:
            again[path] = Observation.of(os.stat(path))
        except OSError:  # vanished meanwhile
            continue
    return [path for path in settled({}, again) if again[path] == arriving[path]]


@dataclass(frozen=True)
class Known:
    """What was recorded of a file when its content was last taken: its look and its SHA-256."""

    look: Observation
    digest: str


LOOK_LIMIT = 2_000
"""Files one look compares with what was recorded of them (a few indexed queries per 500). Without a watermark
(a lost cursor) every file may have changed, and one look at 100,000 would outlast the sensor's time limit:
the next looks go on where it stopped."""

PENDING_LIMIT = 32
"""Files a cursor remembers as still arriving (a few KB); any more are found again by their ctime (see
``advanced``)."""


@dataclass
class InboxScan:
    """What the inbox sensor carries between ticks: a watermark, not a ledger of the inbox.

    A file's ctime changes whenever anything writes, renames or links it, and nobody can set it back (copy
    tools that keep a file's mtime still give it a fresh ctime). So a file whose ctime is older than the
    newest change already taken on its filesystem has not changed since, and is not looked at again (files
    changed in the same clock tick as that newest change are looked at again, and recognised). The state
    holds that watermark per filesystem and up to ``PENDING_LIMIT`` files looked at but not yet taken (still
    arriving, or unreadable for now): it grows with neither the inbox nor the drop. What was taken of each
    file lives in the instance: the ``inbox_file`` observations record its look and content hash.
    """

    watermarks: dict[int, int] = field(default_factory=dict)
    """Filesystem (``st_dev``) -> ctime in ns: every file changed before it has been taken."""
    pending: dict[str, Observation] = field(default_factory=dict)
    """Files looked at but not taken, as they were (still arriving, or unreadable for now): a file unchanged
    at the next look has settled."""
    waiting: int = 0
    """Files left for the next tick by the intake limits: settled but not read, or not looked at."""

    def to_json(self) -> str:
        return json.dumps(
            {
                "watermarks": {str(device): ns for device, ns in self.watermarks.items()},
                "pending": {path: astuple(look) for path, look in self.pending.items()},
                "waiting": self.waiting,
            }
        )

    @classmethod
    def from_json(cls, cursor: str | None) -> InboxScan:
        """The state a cursor holds; an empty one for no cursor, or for the ledger cursor of Qualia 0.x (every
        file is looked at once more and recognised from what the instance recorded)."""
        state = json.loads(cursor) if cursor else {}
        if "watermarks" not in state:
            return cls()
        return cls(
            watermarks={int(device): ns for device, ns in state["watermarks"].items()},
            pending={path: Observation(*look) for path, look in state["pending"].items()},
            waiting=state["waiting"],
        )

    def to_look_at(self, current: dict[str, Observation]) -> tuple[dict[str, Observation], dict[str, Observation]]:
        """The files that may have changed since they were taken (changed at or after their filesystem's
        watermark, or on a filesystem not seen before, and those pending), at most about ``LOOK_LIMIT`` of
        them; and the rest, left for the next looks.

        The pending files come first, then the oldest changes, with every file changed in the same clock
        tick as the last one chosen (so a coarse clock cannot hold the watermark in place), and the next look
        goes on from there.
        """
        candidates = {
            path: look
            for path, look in current.items()
            if path in self.pending or look.ctime_ns >= self.watermarks.get(look.device, -1)
        }
        if len(candidates) <= LOOK_LIMIT:
            return candidates, {}
        order = sorted(candidates, key=lambda path: (path not in self.pending, candidates[path].ctime_ns, path))
        last = candidates[order[LOOK_LIMIT - 1]].ctime_ns
        cut = LOOK_LIMIT
        while cut < len(order) and candidates[order[cut]].ctime_ns == last:
            cut += 1
        return {path: candidates[path] for path in order[:cut]}, {path: candidates[path] for path in order[cut:]}

    def advanced(
        self,
        taken: list[Observation],
        not_taken: dict[str, Observation],
        waiting: int,
        later: Collection[Observation] = (),
    ) -> InboxScan:
        """The state after a look that took ``taken``, left ``not_taken`` (arriving, unreadable for now, or
        over the intake limits, ``waiting`` of them settled) and did not look at ``later`` (over
        ``LOOK_LIMIT``).

        Each filesystem's watermark moves up to the newest change taken on it, but never past the local clock
        (a file whose ctime lies ahead of it is looked at until it is not), and never past a file left
        behind that the cursor does not remember: the first ``PENDING_LIMIT`` files left (by ctime) are
        remembered, and the rest, like the files not looked at, keep the watermark at or below their ctime,
        so the next look finds them again. A drop of 10,000 files taken over many ticks therefore costs the
        cursor nothing.
        """
        marks = dict(self.watermarks)
        for look in taken:
            marks[look.device] = max(marks.get(look.device, -1), look.ctime_ns)
        unlooked: dict[int, int] = {}
        for look in later:  # every change before the first of them has been looked at
            unlooked[look.device] = min(unlooked.get(look.device, look.ctime_ns), look.ctime_ns)
        marks.update(unlooked)
        oldest_first = sorted(not_taken, key=lambda path: (not_taken[path].ctime_ns, path))
        pending = {path: not_taken[path] for path in oldest_first[:PENDING_LIMIT]}
        for path in oldest_first[PENDING_LIMIT:]:
            look = not_taken[path]
            marks[look.device] = min(marks.get(look.device, look.ctime_ns), look.ctime_ns)
        now = time.time_ns()
        state = {device: min(mark, now) for device, mark in marks.items()}
        return InboxScan(state, pending, waiting + len(later))


class InboxConflictError(QualiaError):
    """The inbox already holds a different file under the same name."""


def deposit(folder: Path, name: str, data: bytes) -> tuple[Path, bool]:
    """Put ``data`` into the inbox as ``name``, whole or not at all; ``(path, True)`` when it is new.

    An identical file already there is left as it is (``False``); a different
    one is never replaced: inbox files are only ever added.
    """
    path = folder / name
    try:
        return create_file_atomic(path, data), True
    except FileExistsError:
        if path.is_file() and path.read_bytes() == data:
            return path, False
        raise InboxConflictError(
            f"{name}: the inbox already has a different file of this name; upload it under another name"
        ) from None
