"""Fault injection: reproducible 429/503 answers so that client retry logic can be tested."""

from __future__ import annotations

import random
import threading

from ragfood_vector.errors import ApiError


class FaultInjector:
    """Fails a ``fail_rate`` fraction of requests, the same ones for a given seed and order."""

    def __init__(
        self,
        fail_rate: float,
        seed: int,
        retry_after_s: float | None = None,
        write_quota: int | None = None,
    ) -> None:
        self.fail_rate = fail_rate
        self._rng = random.Random(seed)
        self._lock = threading.Lock()
        self._retry_after = {} if retry_after_s is None else {"Retry-After": f"{retry_after_s:g}"}
        self._write_quota = write_quota
        self._writes = 0

    def charge_write(self) -> ApiError | None:
        """Count one write request; past the quota, answer as Upstash does when it is used up."""
        if self._write_quota is None:
            return None
        with self._lock:
            self._writes += 1
            over = self._writes > self._write_quota
        return ApiError(429, "ERR max daily request limit exceeded") if over else None

    def draw(self) -> ApiError | None:
        """The failure to answer the next request with, or None to serve it normally."""
        if self.fail_rate <= 0:
            return None
        with self._lock:
            # Two draws per request whatever the outcome, so the sequence depends on request
            # order only.
            fails = self._rng.random() < self.fail_rate
            throttled = self._rng.random() < 0.5
        if not fails:
            return None
        if throttled:
            return ApiError(429, "Too many requests", self._retry_after)
        return ApiError(503, "Service unavailable")
