"""Specification of the ask's time budget: the deadline, its scope, cut iteration, retries."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator

import httpx
import pytest

from ragfood import budget
from ragfood.budget import BudgetExhausted, Deadline
from ragfood.retry import DeadlineReached, RetryingTransport, RetryPolicy

# Without the protections under test these asks never return: fail, do not hang the suite.
pytestmark = pytest.mark.timeout(60)


def test_a_deadline_counts_down_and_never_goes_negative():
    deadline = Deadline.after(0.05)
    assert 0 < deadline.remaining() <= 0.05 and not deadline.expired
    time.sleep(0.06)
    assert deadline.remaining() == 0.0 and deadline.expired


def test_a_deadline_runs_on_the_clock_it_is_given():
    """Deadline.after(..., clock=) counts on that clock (the ingest's retry budget is tested with a
    fake one), before, at and past its end; the default clock stays time.monotonic."""
    now = [100.0]
    deadline = Deadline.after(10, clock=lambda: now[0])
    assert deadline.remaining() == 10 and not deadline.expired
    now[0] = 106.5
    assert deadline.remaining() == 3.5 and deadline.cap(5.0) == 3.5 and not deadline.expired
    now[0] = 110.0
    assert deadline.remaining() == 0.0 and deadline.expired
    now[0] = 1e6
    assert deadline.remaining() == 0.0 and deadline.expired
    assert 3599 < Deadline.after(3600).remaining() <= 3600  # no clock given: time.monotonic


def test_an_unbounded_deadline_never_expires():
    assert not Deadline.none().expired and Deadline.none().remaining() == float("inf")
    assert Deadline.none().cap(3.0) == 3.0 and Deadline.after(1.0).cap(None) <= 1.0


def test_scopes_nest_and_the_sooner_deadline_wins():
    assert not budget.current().bounded
    with budget.within(Deadline.after(1.0)) as outer:
        assert budget.current() is outer
        with budget.within(Deadline.after(60.0)) as inner:
            assert inner is outer  # an inner scope cannot extend the invocation's deadline
        with budget.within(Deadline.after(0.1)) as sooner:
            assert budget.current() is sooner and sooner.remaining() <= 0.1
    assert not budget.current().bounded


def test_lambda_deadline_is_the_budget_or_the_remaining_time_less_a_margin():
    assert budget.for_lambda(60_000, 5.0).remaining() == pytest.approx(5.0, abs=0.1)
    assert budget.for_lambda(3_000, 25.0).remaining() == pytest.approx(2.0, abs=0.1)
    assert budget.for_lambda(500, 25.0).expired



def test_the_lambda_web_adapter_header_gives_the_time_left():
    in_3s = json.dumps({"request_id": "r", "deadline": int(time.time() * 1000) + 3000})
    assert budget.remaining_ms_from_header(in_3s) == pytest.approx(3000, abs=200)
    assert budget.remaining_ms_from_header(in_3s.encode()) == pytest.approx(3000, abs=200)
    for unusable in (None, "", "not json", "[]", '{"request_id": "r"}'):
        assert budget.remaining_ms_from_header(unusable) is None

def _blocked_forever(closed: threading.Event) -> Iterator[str]:
    try:
        yield "first"
        while not closed.wait(0.05):  # a read that never returns data
            pass
        yield "never"
    finally:
        closed.set()


def test_iteration_is_cut_at_the_deadline_even_inside_a_blocked_read():
    closed = threading.Event()
    seen: list[str] = []
    started = time.monotonic()
    with pytest.raises(BudgetExhausted):
        for item in budget.until(_blocked_forever(closed), Deadline.after(0.3)):
            seen.append(item)
    assert seen == ["first"] and time.monotonic() - started < 2.0


def test_a_fast_trickle_is_cut_at_the_deadline_and_closed():
    finished = threading.Event()

    def trickle() -> Iterator[int]:
        try:
            n = 0
            while True:
                yield n
                n += 1
                time.sleep(0.01)
        finally:
            finished.set()  # the response behind it gets closed

    started = time.monotonic()
    with pytest.raises(BudgetExhausted):
        for _ in budget.until(trickle(), Deadline.after(0.2)):
            pass
    assert time.monotonic() - started < 2.0
    assert finished.wait(2.0)


def test_iteration_sees_the_deadline_of_its_scope():
    """The helper thread must run in the caller's context, or the transport loses the budget."""

    def deadlines() -> Iterator[bool]:
        yield budget.current().bounded

    with budget.within(Deadline.after(5.0)) as deadline:
        assert list(budget.until(deadlines(), deadline)) == [True]


def test_errors_and_the_end_of_the_items_come_through():
    def failing() -> Iterator[int]:
        yield 1
        raise ValueError("boom")

    with pytest.raises(ValueError, match="boom"):
        list(budget.until(failing(), Deadline.after(5.0)))
    assert list(budget.until(iter([1, 2, 3]), Deadline.after(5.0))) == [1, 2, 3]


class _Recorder:
    def __init__(self, status: int) -> None:
        self.status = status
        self.timeouts: list[dict[str, float]] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.timeouts.append(dict(request.extensions["timeout"]))
        return httpx.Response(self.status, json={})


def _client(recorder: _Recorder, attempts: int, initial_s: float) -> tuple[httpx.Client, list]:
    sleeps: list[float] = []
    transport = RetryingTransport(
        httpx.MockTransport(recorder), RetryPolicy(attempts, initial_s, 10.0), sleep=sleeps.append
    )
    return httpx.Client(transport=transport, timeout=30.0), sleeps


def test_retries_never_sleep_past_the_deadline():
    recorder = _Recorder(503)
    client, sleeps = _client(recorder, attempts=10, initial_s=1.0)
    with budget.within(Deadline.after(0.5)):
        assert client.post("http://index/query").status_code == 503
    assert len(recorder.timeouts) == 1 and sleeps == []  # a 1 s backoff would outlive 0.5 s


def test_without_a_deadline_retries_run_their_course():
    recorder = _Recorder(503)
    client, sleeps = _client(recorder, attempts=3, initial_s=1.0)
    assert client.post("http://index/query").status_code == 503
    assert len(recorder.timeouts) == 3 and len(sleeps) == 2


def test_each_attempt_is_capped_at_the_remaining_time():
    recorder = _Recorder(200)
    client, _ = _client(recorder, attempts=1, initial_s=0.1)
    with budget.within(Deadline.after(2.0)):
        client.post("http://index/query")
    assert recorder.timeouts and all(0 < t <= 2.0 for t in recorder.timeouts[0].values())
    client.post("http://index/query")
    assert all(t == 30.0 for t in recorder.timeouts[1].values())


def test_nothing_is_sent_once_the_deadline_has_passed():
    recorder = _Recorder(200)
    client, _ = _client(recorder, attempts=3, initial_s=0.01)
    with budget.within(Deadline.after(0.0)), pytest.raises(DeadlineReached):
        client.post("http://index/query")
    assert recorder.timeouts == []
