"""The circuit breaker's state machine, replayed from outcomes."""

from qualia_pipelines.core.breaker import BreakerPolicy, breaker_status

POLICY = BreakerPolicy(failures=3, window_seconds=60, cooldown_seconds=100)


def test_opens_after_n_failures_within_the_window() -> None:
    assert breaker_status([(0, False), (10, False)], POLICY, 20).state == "closed"
    status = breaker_status([(0, False), (10, False), (20, False)], POLICY, 30)
    assert (status.state, status.recent_failures, status.retry_after) == ("open", 3, 120)
    assert not status.allows_attempt and "next attempt after" in status.describe()


def test_failures_spread_wider_than_the_window_do_not_open() -> None:
    assert breaker_status([(0, False), (50, False), (100, False)], POLICY, 101).state == "closed"


def test_half_open_after_cool_down_then_success_closes_and_failure_reopens() -> None:
    opened = [(0, False), (1, False), (2, False)]
    assert breaker_status(opened, POLICY, 150).state == "half_open"
    assert breaker_status([*opened, (150, True)], POLICY, 151).state == "closed"
    reopened = breaker_status([*opened, (150, False)], POLICY, 151)
    assert (reopened.state, reopened.retry_after) == ("open", 250)
    assert breaker_status([*opened, (150, False)], POLICY, 260).state == "half_open"


def test_successes_while_closed_keep_it_closed() -> None:
    assert breaker_status([(0, False), (1, True), (2, False), (3, True)], POLICY, 4).state == "closed"


def test_successes_without_failures_are_the_same_as_no_history() -> None:
    """Why the instance's successes are only read when there are failures to replay them against."""
    assert breaker_status([(t, True) for t in range(0, 500, 7)], POLICY, 600) == breaker_status([], POLICY, 600)
