"""A retry budget shared by every request of one ingest.

Each request already has a few attempts (`retry.RetryingTransport`). Under a sustained rate of
transient errors that is not enough for a large upload: with 30 % of answers 429/503 and 4 attempts,
one batch in ~120 runs out, so 100 batches fail about half the time. Here a whole operation (one
batch, one page) that still fails transiently is tried again, after a pause, for as long as the
ingest's time budget lasts; errors that retrying cannot fix (quota used up, auth, bad request)
propagate at once. An index that answers nothing but errors for `stall_s` in a row (no operation
succeeding) is down rather than pushing back: the ingest stops then, not at the end of its budget.
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable
from typing import TypeVar

from ragfood import budget
from ragfood.budget import Deadline
from ragfood.errors import VectorUnavailable

T = TypeVar("T")

DEFAULT_STALL_S = 60.0


class RetryBudget:
    """Call it with an operation: it returns the operation's result or raises once time is up."""

    def __init__(
        self,
        seconds: float,
        *,
        pause_s: float = 0.5,
        max_pause_s: float = 8.0,
        stall_s: float = DEFAULT_STALL_S,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.seconds = seconds
        self.deadline = Deadline.after(seconds, clock=clock)
        self.stall_s = stall_s
        self._pause_s = pause_s
        self._max_pause_s = max_pause_s
        self._clock = clock
        self._sleep = sleep
        self._lock = threading.Lock()
        self.retries = 0  # whole operations retried, across all threads of this ingest
        # When operations began failing with none succeeding since (None: the last one succeeded).
        self._failing_since: float | None = None

    def __call__(self, operation: Callable[[], T]) -> T:
        round_ = 0
        while True:
            try:
                # Each request's own attempts and the pauses an index asks for (Retry-After) end
                # by the deadline too: set here, in the thread that runs the operation.
                with budget.within(self.deadline):
                    result = operation()
                self._failing_since = None
                return result
            except VectorUnavailable as exc:
                pause = min(self._max_pause_s, self._pause_s * 2**round_) * random.uniform(0.5, 1)
                if pause >= self.deadline.remaining():
                    raise type(exc)(  # an unreachable index stays unreachable
                        f"{exc}; still failing when the ingest's {self.seconds:.0f} s retry "
                        f"budget ran out ({self.retries} operations retried)",
                        exc.status,
                    ) from None
                with self._lock:
                    now = self._clock()
                    if self._failing_since is None:
                        self._failing_since = now
                    stalled = now + pause - self._failing_since > self.stall_s
                    if not stalled:
                        self.retries += 1
                if stalled:
                    raise type(exc)(
                        f"{exc}; no request has succeeded for {self.stall_s:.0f} s, so the "
                        f"ingest stops ({self.retries} operations retried)",
                        exc.status,
                    ) from None
                round_ += 1
                self._sleep(pause)
