"""The time budget of one ask: a deadline every network call on its path respects.

httpx timeouts bound each read, not a request: a generator that sends a byte a second never trips
them. So an ask carries a `Deadline`; the pipeline puts it in scope (`within`), the retrying
transport consults it (`current`) to cap each attempt and to stop retrying, and the generation is
read through `until` so it is cut when the deadline passes, whatever the peer does.
"""

from __future__ import annotations

import contextvars
import json
import math
import queue
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TypeVar

T = TypeVar("T")


class Deadline:
    """A point in time on a clock (`time.monotonic` unless another is given, e.g. a test's);
    `Deadline.none()` never expires. Deadlines are compared only on the same clock."""

    __slots__ = ("_at", "_clock")

    def __init__(self, at: float, clock: Callable[[], float] = time.monotonic) -> None:
        self._at = at
        self._clock = clock

    @classmethod
    def after(cls, seconds: float, *, clock: Callable[[], float] = time.monotonic) -> Deadline:
        return cls(clock() + max(0.0, seconds), clock)

    @classmethod
    def none(cls) -> Deadline:
        return cls(math.inf)

    @property
    def bounded(self) -> bool:
        return self._at != math.inf

    def remaining(self) -> float:
        """Seconds left (never negative; infinite for `Deadline.none()`)."""
        return max(0.0, self._at - self._clock())

    @property
    def expired(self) -> bool:
        return self._clock() >= self._at

    def earliest(self, other: Deadline | None) -> Deadline:
        """The sooner of two deadlines."""
        if other is None or self._at <= other._at:
            return self
        return other

    def cap(self, seconds: float | None) -> float:
        """A timeout of at most `seconds` that also ends by the deadline."""
        if seconds is None:
            return self.remaining()
        return min(seconds, self.remaining())

    def __repr__(self) -> str:
        return f"Deadline(remaining={self.remaining():.3f}s)" if self.bounded else "Deadline.none()"


class BudgetExhausted(TimeoutError):
    """The deadline passed before the work finished."""


_current: contextvars.ContextVar[Deadline | None] = contextvars.ContextVar(
    "ragfood_deadline", default=None
)


def current() -> Deadline:
    """The deadline in scope for this call (unbounded when none was set)."""
    return _current.get() or Deadline.none()


@contextmanager
def within(deadline: Deadline) -> Iterator[Deadline]:
    """Run a block under `deadline` (or an enclosing scope's, if that is sooner)."""
    effective = deadline.earliest(_current.get())
    token = _current.set(effective)
    try:
        yield effective
    finally:
        _current.reset(token)


def for_lambda(remaining_ms: int, budget_s: float, margin_s: float = 1.0) -> Deadline:
    """The deadline of an invocation: the budget, or the function's remaining time less a margin
    to shape and return the response, whichever ends first."""
    return Deadline.after(min(budget_s, remaining_ms / 1000 - margin_s))


def remaining_ms_from_header(value: str | bytes | None) -> int | None:
    """Milliseconds the invocation has left, from the `x-amzn-lambda-context` header that AWS
    Lambda Web Adapter sends the app (JSON; `deadline` is epoch milliseconds). None if absent or
    unreadable: the budget alone then applies."""
    if not value:
        return None
    try:
        context = json.loads(value)
        deadline_ms = context.get("deadline", context.get("deadline_ms"))
        return int(float(deadline_ms) - time.time() * 1000)
    except (ValueError, TypeError, AttributeError):
        return None


_END = object()


def until(items: Iterator[T], deadline: Deadline) -> Iterator[T]:
    """Yield from `items` until they end or the deadline passes (then raise BudgetExhausted).

    A blocked read cannot be interrupted from outside, so the items are pulled by a helper thread
    and we wait for each one at most until the deadline. The helper stops (closing `items`, hence
    the HTTP response) as soon as it gets control back; its reads are capped by the transport at
    the remaining time, so it never outlives the deadline by much.
    """
    if not deadline.bounded:
        yield from items
        return
    handoff: queue.Queue[tuple[object, BaseException | None]] = queue.Queue()
    stop = threading.Event()

    def pull() -> None:
        try:
            for item in items:
                if stop.is_set():
                    break
                handoff.put((item, None))
            handoff.put((_END, None))
        except BaseException as exc:  # handed to the consumer, re-raised there
            handoff.put((_END, exc))
        finally:
            close = getattr(items, "close", None)
            if close is not None:
                close()

    context = contextvars.copy_context()  # the transport must see this ask's deadline
    threading.Thread(target=context.run, args=(pull,), daemon=True, name="deadline").start()
    try:
        while True:
            try:
                item, error = handoff.get(timeout=deadline.remaining())
            except queue.Empty:
                raise BudgetExhausted("the time budget ran out") from None
            if error is not None:
                raise error
            if item is _END:
                return
            if deadline.expired:  # a fast trickle must not keep us past the deadline either
                raise BudgetExhausted("the time budget ran out")
            yield item  # type: ignore[misc]
    finally:
        stop.set()
