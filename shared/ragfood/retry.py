"""Bounded retries with exponential backoff and jitter, as an httpx transport.

The upstash-vector SDK retries only on raised exceptions, 1 s apart, and never on an HTTP status
(see ../shared/NOTES.md). Putting the policy in the transport gives every call made through an
httpx client the same behaviour, and lets us see the status code the SDK would throw away.
The ask's deadline (ragfood.budget) caps every attempt and stops retries that would outlive it.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import TYPE_CHECKING, NamedTuple

import httpx

from ragfood import budget
from ragfood.budget import Deadline
from ragfood.transport import http_transport

# tenacity is imported only when a request has failed once (RetryingTransport._retry): almost
# every request succeeds at once, and its import is ~4 ms of the ask function's cold start.
if TYPE_CHECKING:
    from tenacity import RetryCallState

RETRYABLE_STATUSES = frozenset({429, 500, 502, 503, 504})


class RetryPolicy(NamedTuple):  # not a frozen dataclass: cheaper to define (ragfood.relevance)
    max_attempts: int = 4
    initial_s: float = 0.2
    max_s: float = 4.0
    # A server's Retry-After is honoured up to this; beyond it we wait this long and try anyway.
    max_retry_after_s: float = 30.0


def retry_after_s(value: str | None, now: datetime | None = None) -> float | None:
    """Seconds asked for by a Retry-After header (delta-seconds or an HTTP date), if any."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - (now or datetime.now(UTC))).total_seconds())


class DeadlineReached(httpx.TimeoutException):
    """The ask's time budget ran out before this request could be (re)sent or answered."""


class _RetryableStatus(Exception):
    def __init__(self, response: httpx.Response) -> None:
        super().__init__(response.status_code)
        self.response = response


OnRetry = Callable[[int, str], None]
# An answer that looks retryable by status but must not be retried (e.g. a used-up daily quota).
GiveUp = Callable[[httpx.Response], bool]


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
        give_up: GiveUp | None = None,
        answer_within_s: float | None = None,
    ) -> None:
        self._inner = inner or http_transport()
        self._policy = policy or RetryPolicy()
        self._on_retry = on_retry
        self._sleep = sleep
        self._give_up = give_up
        # When set, each attempt's whole answer (body included) is read here, within this long.
        self._answer_within_s = answer_within_s

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        deadline = budget.current()
        try:
            return self._send_once(request, deadline)
        except (_RetryableStatus, httpx.TransportError) as failure:
            return self._retry(request, deadline, failure)

    def _retry(
        self, request: httpx.Request, deadline: Deadline, first_failure: Exception
    ) -> httpx.Response:
        """The attempts after a failed first one, under the policy (tenacity).

        The first attempt's outcome is replayed as tenacity's attempt 1 (not sent again), so
        the attempt count, backoff, stop conditions and reports are those of one policy.
        """
        from tenacity import (
            Retrying,
            retry_if_exception_type,
            stop_after_attempt,
            wait_exponential_jitter,
        )

        policy = self._policy
        backoff = wait_exponential_jitter(
            multiplier=policy.initial_s, max=policy.max_s, jitter=policy.initial_s
        )
        replay: list[Exception] = [first_failure]

        def attempt() -> httpx.Response:
            if replay:
                raise replay.pop()
            return self._send_once(request, deadline)

        retrying = Retrying(
            stop=stop_after_attempt(policy.max_attempts) | _no_time_left(deadline),
            wait=lambda state: self._wait(state, float(backoff(state))),
            retry=retry_if_exception_type((_RetryableStatus, httpx.TransportError)),
            before_sleep=self._report,
            sleep=self._sleep,
            reraise=True,
        )
        try:
            return retrying(attempt)
        except _RetryableStatus as exhausted:
            return exhausted.response

    def _send_once(self, request: httpx.Request, deadline: Deadline) -> httpx.Response:
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
            if self._answer_within_s is not None:
                limit = Deadline.after(self._answer_within_s).earliest(deadline)
                _read_by(response, limit, request)
        except httpx.TimeoutException as exc:
            if deadline.bounded and deadline.expired:
                raise DeadlineReached("the time budget ran out", request=request) from exc
            raise
        if response.status_code in RETRYABLE_STATUSES and not (
            self._give_up and self._give_up(response)
        ):
            # Read (and so release) the body now: this response may be the one we finally return.
            response.read()
            response.close()
            raise _RetryableStatus(response)
        return response

    def _wait(self, state: RetryCallState, backoff: float) -> float:
        exc = state.outcome.exception() if state.outcome else None
        if isinstance(exc, _RetryableStatus):
            asked = retry_after_s(exc.response.headers.get("retry-after"))
            if asked is not None:
                return min(max(backoff, asked), self._policy.max_retry_after_s)
        return backoff

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


class _ReadBy(httpx.SyncByteStream):
    """A response body that must have arrived by a deadline."""

    def __init__(self, inner: httpx.SyncByteStream, limit: Deadline, request: httpx.Request):
        self._inner, self._limit, self._request = inner, limit, request

    def __iter__(self) -> Iterator[bytes]:
        for chunk in self._inner:
            if self._limit.expired:
                raise httpx.ReadTimeout("the answer did not arrive in time", request=self._request)
            yield chunk

    def close(self) -> None:
        self._inner.close()


def _read_by(response: httpx.Response, limit: Deadline, request: httpx.Request) -> None:
    """Read the whole body now, or time out when `limit` passes. Read timeouts bound each read,
    not the answer: a peer that trickles a byte now and then would hold us forever."""
    response.stream = _ReadBy(response.stream, limit, request)  # type: ignore[arg-type]
    try:
        response.read()
    except BaseException:
        response.close()
        raise


def _no_time_left(deadline: Deadline) -> Callable[[RetryCallState], bool]:
    """Stop retrying when the backoff would sleep past the deadline (or it has passed)."""

    def stop(state: RetryCallState) -> bool:
        return deadline.bounded and deadline.remaining() <= state.upcoming_sleep

    return stop


def retrying_client(
    policy: RetryPolicy,
    timeout_s: float,
    *,
    url: str | None = None,
    on_retry: OnRetry | None = None,
    inner: httpx.BaseTransport | None = None,
    response_hooks: list[Callable[[httpx.Response], None]] | None = None,
    give_up: GiveUp | None = None,
    client_class: type[httpx.Client] = httpx.Client,
    whole_answers: bool = False,
) -> httpx.Client:
    """An httpx client that retries per `policy`; build one per destination (`url`) and container
    and share it. `whole_answers`: each answer is read whole within `timeout_s` of sending its
    request (not for streamed answers)."""
    return client_class(
        transport=RetryingTransport(
            inner or http_transport(url),
            policy,
            on_retry=on_retry,
            give_up=give_up,
            answer_within_s=timeout_s if whole_answers else None,
        ),
        timeout=httpx.Timeout(timeout_s, connect=min(timeout_s, 5.0)),
        event_hooks={"response": list(response_hooks or [])},
    )
