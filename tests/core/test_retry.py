"""Specification of the retry policy: which failures are retried, how often, and what remains."""

from __future__ import annotations

import subprocess
import sys

import httpx
import pytest

from ragfood.retry import RetryingTransport, RetryPolicy


class Script:
    """A transport answering a scripted sequence of statuses (or exceptions)."""

    def __init__(self, *steps: int | Exception) -> None:
        self.steps = list(steps)
        self.calls = 0

    def __call__(self, request: httpx.Request) -> httpx.Response:
        step = self.steps[min(self.calls, len(self.steps) - 1)]
        self.calls += 1
        if isinstance(step, Exception):
            raise step
        return httpx.Response(step, json={"status": step})


def client_for(script: Script, attempts: int = 4) -> tuple[httpx.Client, list[float]]:
    sleeps: list[float] = []
    transport = RetryingTransport(
        httpx.MockTransport(script), RetryPolicy(attempts, 0.1, 1.0), sleep=sleeps.append
    )
    return httpx.Client(transport=transport), sleeps


@pytest.mark.parametrize("status", [429, 500, 502, 503, 504])
def test_transient_statuses_are_retried_until_success(status: int):
    script = Script(status, status, 200)
    client, _ = client_for(script)
    assert client.post("http://index/query").status_code == 200
    assert script.calls == 3


@pytest.mark.parametrize("status", [400, 401, 403, 404])
def test_client_errors_are_not_retried(status: int):
    script = Script(status)
    client, _ = client_for(script)
    assert client.post("http://index/query").status_code == status
    assert script.calls == 1


def test_attempts_are_bounded_and_the_last_answer_is_returned():
    script = Script(503)
    client, sleeps = client_for(script, attempts=3)
    assert client.post("http://index/query").status_code == 503
    assert script.calls == 3 and len(sleeps) == 2


def test_backoff_grows_and_stays_under_the_cap():
    client, sleeps = client_for(Script(503), attempts=6)
    client.post("http://index/query")
    assert all(0 < s <= 1.0 for s in sleeps)
    assert sleeps[-1] >= sleeps[0]


def test_refused_connections_are_retried_then_raised():
    script = Script(httpx.ConnectError("Connection refused"))
    client, _ = client_for(script, attempts=3)
    with pytest.raises(httpx.ConnectError):
        client.post("http://index/query")
    assert script.calls == 3


def test_timeouts_are_retried():
    script = Script(httpx.ReadTimeout("slow"), 200)
    client, _ = client_for(script)
    assert client.post("http://index/query").status_code == 200


def test_each_retry_is_reported():
    reports: list[tuple[int, str]] = []
    transport = RetryingTransport(
        httpx.MockTransport(Script(429, 200)),
        RetryPolicy(3, 0, 0),
        on_retry=lambda attempt, what: reports.append((attempt, what)),
        sleep=lambda _s: None,
    )
    httpx.Client(transport=transport).get("http://index/info")
    assert reports == [(1, "HTTP 429")]


def test_a_single_attempt_policy_returns_the_failed_answer_at_once():
    script = Script(503, 200)
    client, sleeps = client_for(script, attempts=1)
    assert client.post("http://index/query").status_code == 503
    assert script.calls == 1 and sleeps == []


def test_the_first_failure_counts_as_the_first_attempt():
    # The first attempt is sent outside tenacity and replayed into it: never sent twice, and
    # it uses up one of the policy's attempts.
    script = Script(httpx.ConnectError("Connection refused"), 200)
    client, sleeps = client_for(script, attempts=2)
    assert client.post("http://index/query").status_code == 200
    assert script.calls == 2 and len(sleeps) == 1


def test_requests_that_succeed_at_once_never_load_tenacity():
    # tenacity is imported on the first failure only: ~4 ms of the ask function's cold start.
    probe = (
        "import sys, httpx\n"
        "from ragfood.retry import RetryingTransport, RetryPolicy\n"
        "ok = httpx.MockTransport(lambda request: httpx.Response(200))\n"
        "client = httpx.Client(transport=RetryingTransport(ok, RetryPolicy(3, 0, 0)))\n"
        "assert client.get('http://index/info').status_code == 200\n"
        "print('tenacity' in sys.modules)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True, timeout=60
    )
    assert result.stdout.strip() == "False"
