"""Circuit breaker for plugins, computed from a history of outcomes.

The state is never stored on its own: it is replayed from timestamped
successes and failures (in Dagster, the instance's event log), so it survives
restarts of every process and two readers always agree.

closed --N failures within window--> open --cool-down passes--> half_open
half_open --success--> closed;  half_open --failure--> open (cool-down restarts)
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal

BreakerState = Literal["closed", "open", "half_open"]


@dataclass(frozen=True)
class BreakerPolicy:
    failures: int = 5
    window_seconds: float = 300.0
    cooldown_seconds: float = 300.0


@dataclass(frozen=True)
class BreakerStatus:
    state: BreakerState
    recent_failures: int
    opened_at: float | None = None
    retry_after: float | None = None

    @property
    def allows_attempt(self) -> bool:
        return self.state != "open"

    def describe(self) -> str:
        if self.state == "open":
            return (
                f"open: {self.recent_failures} recent failures; next attempt after {self.retry_after:.0f} (unix time)"
            )
        if self.state == "half_open":
            return "half-open: cool-down over, one attempt is let through"
        return f"closed ({self.recent_failures} failures in the window)"


def breaker_status(outcomes: Iterable[tuple[float, bool]], policy: BreakerPolicy, now: float) -> BreakerStatus:
    """Replay ``(timestamp, succeeded)`` outcomes in time order and report the state at ``now``."""
    state: BreakerState = "closed"
    failures: list[float] = []
    opened_at: float | None = None
    for timestamp, succeeded in sorted(outcomes):
        if state == "open" and opened_at is not None and timestamp - opened_at >= policy.cooldown_seconds:
            state = "half_open"
        if succeeded:
            if state == "half_open":
                state, failures, opened_at = "closed", [], None
            continue
        failures = [t for t in failures if timestamp - t < policy.window_seconds] + [timestamp]
        if state == "half_open" or (state == "closed" and len(failures) >= policy.failures):
            state, opened_at = "open", timestamp
    if state == "open" and opened_at is not None and now - opened_at >= policy.cooldown_seconds:
        state = "half_open"
    recent = len([t for t in failures if now - t < policy.window_seconds])
    retry_after = opened_at + policy.cooldown_seconds if state == "open" and opened_at is not None else None
    return BreakerStatus(state=state, recent_failures=recent, opened_at=opened_at, retry_after=retry_after)
