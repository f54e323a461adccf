"""Bounded retries with exponential backoff and jitter, as an httpx transport.

The upstash-vector SDK retries only on raised exceptions, 1 s apart, and never on an HTTP status
(see ../shared/NOTES.md). Putting the policy in the transport gives every call made through an
httpx client the same behaviour, and lets us see the status code the SDK would throw away.
The ask's deadline (ragfood.budget) caps every attempt and stops retries that would outlive it.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

import httpx
from tenacity import (
    RetryCallState,
    Retrying,
    retry_if_exception_type,
    stop_after_attempt,
    wait_exponential_jitter,
)

from ragfood import budget

RETRYABLE_STATUSES = frozenset({429, 500, 502, 503, 504})


@dataclass(frozen=True)
class RetryPolicy:
    max_attempts: int = 4
    initial_s: float = 0.2
    max_s: float = 4.0


class DeadlineReached(httpx.TimeoutException):
    """The ask's time budget ran out before this request could be (re)sent or answered."""


class _RetryableStatus(Exception):
    def __init__(self, response: httpx.Response) -> None:
        super().__init__(response.status_code)
        self.response = response


OnRetry = Callable[[int, str], None]


class RetryingTransport(httpx.BaseTransport):
    """Retries 429/5xx answers and connection errors/timeouts; passes everything else through.

    When the attempts run out, the last response is returned (so callers still see the status and
    body) or the last transport error is raised.
    """

    def __init__(
        self,
        inner: httpx.BaseTransport | None = None,
        policy: RetryPolicy | None = None,
        on_retry: OnRetry | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._inner = inner or httpx.HTTPTransport()
        self._policy = policy or RetryPolicy()
        self._on_retry = on_retry
        self._sleep = sleep

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        policy = self._policy
        deadline = budget.current()
        retrying = Retrying(
            stop=stop_after_attempt(policy.max_attempts) | _no_time_left(deadline),
            wait=wait_exponential_jitter(
                multiplier=policy.initial_s, max=policy.max_s, jitter=policy.initial_s
            ),
            retry=retry_if_exception_type((_RetryableStatus, httpx.TransportError)),
            before_sleep=self._report,
            sleep=self._sleep,
            reraise=True,
        )
        try:
            return retrying(self._send_once, request, deadline)
        except _RetryableStatus as exhausted:
            return exhausted.response

    def _send_once(self, request: httpx.Request, deadline: budget.Deadline) -> httpx.Response:
        if deadline.bounded:
            if deadline.expired:
                raise DeadlineReached("the time budget ran out", request=request)
            # Each attempt (connect, every read) ends by the deadline at the latest.
            timeouts = request.extensions.get("timeout") or dict.fromkeys(
                ("connect", "read", "write", "pool")
            )
            request.extensions["timeout"] = {k: deadline.cap(v) for k, v in timeouts.items()}
        try:
            response = self._inner.handle_request(request)
        except httpx.TimeoutException as exc:
            if deadline.bounded and deadline.expired:
                raise DeadlineReached("the time budget ran out", request=request) from exc
            raise
        if response.status_code in RETRYABLE_STATUSES:
            # Read (and so release) the body now: this response may be the one we finally return.
            response.read()
            response.close()
            raise _RetryableStatus(response)
        return response

    def _report(self, state: RetryCallState) -> None:
        if self._on_retry is None or state.outcome is None:
            return
        exc = state.outcome.exception()
        what = (
            f"HTTP {exc.response.status_code}"
            if isinstance(exc, _RetryableStatus)
            else type(exc).__name__
        )
        self._on_retry(state.attempt_number, what)

    def close(self) -> None:
        self._inner.close()


def _no_time_left(deadline: budget.Deadline) -> Callable[[RetryCallState], bool]:
    """Stop retrying when the backoff would sleep past the deadline (or it has passed)."""

    def stop(state: RetryCallState) -> bool:
        return deadline.bounded and deadline.remaining() <= state.upcoming_sleep

    return stop


def retrying_client(
    policy: RetryPolicy,
    timeout_s: float,
    *,
    on_retry: OnRetry | None = None,
    inner: httpx.BaseTransport | None = None,
    response_hooks: list[Callable[[httpx.Response], None]] | None = None,
) -> httpx.Client:
    """An httpx client that retries per `policy`; build one per container and share it."""
    return httpx.Client(
        transport=RetryingTransport(inner or httpx.HTTPTransport(), policy, on_retry=on_retry),
        timeout=httpx.Timeout(timeout_s, connect=min(timeout_s, 5.0)),
        event_hooks={"response": list(response_hooks or [])},
    )
