"""Resumable queries: the rest of a query's ranking, kept server-side until it is fetched or ends.

Upstash resumes its approximate search where it stopped; our search is exact, so the whole
ranking is computed when the query starts and later batches are read on from it (with their
metadata, data and vectors as they are then; vectors deleted meanwhile are skipped, vectors
upserted meanwhile are not in it). A query that is not touched for ``maxIdle`` seconds ends by
itself, as on Upstash, and there is a cap on how many may be active at once, so a client that
never stops its queries cannot exhaust memory.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass

from ragfood_vector.errors import ApiError
from ragfood_vector.protocol import QuerySpec
from ragfood_vector.search import Hit

MAX_ACTIVE = 1000


@dataclass
class _Query:
    namespace: str
    spec: QuerySpec  # the include flags, valid for the whole query
    ranking: list[Hit]
    position: int
    max_idle: float
    last_used: float


class ResumableQueries:
    """The active resumable queries of one service, by uuid (thread-safe)."""

    def __init__(
        self, max_active: int = MAX_ACTIVE, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._max_active = max_active
        self._clock = clock
        self._queries: dict[str, _Query] = {}
        self._lock = threading.Lock()

    def start(
        self, namespace: str, spec: QuerySpec, ranking: list[Hit], max_idle: float
    ) -> tuple[str, list[Hit]]:
        """Register a query whose full ranking is ``ranking``; return its uuid and first batch."""
        with self._lock:
            self._expire()
            if len(self._queries) >= self._max_active:
                raise ApiError(
                    429,
                    f"Too many active resumable queries (at most {self._max_active}); "
                    "stop the ones you are done with",
                )
            query_id = str(uuid.uuid4())
            self._queries[query_id] = _Query(
                namespace, spec, ranking, spec.top_k, max_idle, self._clock()
            )
        return query_id, ranking[: spec.top_k]

    def next(
        self, query_id: str, additional_k: int, alive: Callable[[str, list[str]], list[bool]]
    ) -> tuple[str, QuerySpec, list[Hit]]:
        """The next ``additional_k`` hits of the query that ``alive`` says still exist (fewer,
        or none, at the end of the ranking)."""
        with self._lock:
            self._expire()
            query = self._get(query_id)
            batch: list[Hit] = []
            while len(batch) < additional_k and query.position < len(query.ranking):
                end = query.position + additional_k - len(batch)
                candidates = query.ranking[query.position : end]
                query.position += len(candidates)
                flags = alive(query.namespace, [hit.id for hit in candidates])
                batch.extend(hit for hit, ok in zip(candidates, flags, strict=True) if ok)
            query.last_used = self._clock()
            return query.namespace, query.spec, batch

    def end(self, query_id: str) -> None:
        with self._lock:
            self._expire()
            self._get(query_id)
            del self._queries[query_id]

    def _get(self, query_id: str) -> _Query:
        query = self._queries.get(query_id)
        if query is None:
            raise ApiError(
                404,
                f"Resumable query {query_id!r} does not exist: it was stopped, "
                "or idle for longer than its maxIdle",
            )
        return query

    def _expire(self) -> None:
        now = self._clock()
        idle = [key for key, q in self._queries.items() if now - q.last_used > q.max_idle]
        for key in idle:
            del self._queries[key]
