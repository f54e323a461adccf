"""Exact search over one namespace's in-memory snapshot: dense (cosine) and sparse (dot product).

A snapshot is rebuilt from SQLite after writes (see ``store``). The dense side is one float32
matrix; the sparse side is an inverted index kept as three flat arrays sorted by dimension
(dimension, row, value), so a sparse query gathers the postings of its few dimensions with two
binary searches each and adds them up with one ``bincount``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ragfood_vector.filters import Predicate, is_match_all
from ragfood_vector.sparse import SparseVector


@dataclass(frozen=True)
class Hit:
    """A matching row: ``score`` is the cosine (dense) or the dot product (sparse)."""

    id: str
    score: float


@dataclass
class SparsePostings:
    """Every stored sparse vector of a namespace, as postings sorted by dimension."""

    dims: np.ndarray  # int32, sorted
    rows: np.ndarray  # int32, the row (position in Snapshot.ids) of each posting
    values: np.ndarray  # float32
    documents: int  # how many rows have a sparse vector (N of the IDF)

    @classmethod
    def empty(cls) -> SparsePostings:
        return cls(
            np.zeros(0, np.int32), np.zeros(0, np.int32), np.zeros(0, np.float32), documents=0
        )

    @classmethod
    def build(cls, dims: np.ndarray, rows: np.ndarray, values: np.ndarray, documents: int):
        order = np.argsort(dims, kind="stable")  # stable: rows stay ascending within a dimension
        return cls(dims[order], rows[order], values[order], documents)


@dataclass
class Snapshot:
    """Search cache of one namespace; ids sorted so equal scores come back in id order."""

    ids: list[str]
    matrix: np.ndarray  # (n, dimension) float32, rows L2-normalised (zero rows stay zero)
    metadata_json: list[str | None]
    sparse: SparsePostings = field(default_factory=SparsePostings.empty)
    _metadata: list[dict[str, Any] | None] | None = field(default=None, repr=False)

    def metadata(self) -> list[dict[str, Any] | None]:
        # Parsed only when a filter needs it: unfiltered search never pays for json.loads.
        if self._metadata is None:
            self._metadata = [json.loads(m) if m else None for m in self.metadata_json]
        return self._metadata


def _best(
    snapshot: Snapshot, rows: np.ndarray, scores: np.ndarray, k: int, predicate: Predicate
) -> list[Hit]:
    """The ``k`` best of ``rows`` (scores aligned with them) passing ``predicate``; ties by id."""
    n = len(rows)
    if n == 0:
        return []
    if is_match_all(predicate):
        # argpartition finds the k best in O(n) without sorting the rest.
        picked = np.argpartition(-scores, k - 1)[:k] if k < n else np.arange(n)
        order = picked[np.lexsort((rows[picked], -scores[picked]))]
        return [Hit(snapshot.ids[rows[i]], float(scores[i])) for i in order]
    metadata = snapshot.metadata()
    # Check candidates best first, in growing windows: a common filter is satisfied within the
    # first few windows, so a full sort of n scores is only paid for by very selective ones.
    window = min(n, max(64, 8 * k))
    # A mask rather than a position: with tied scores at a window's edge, a wider window may
    # order the tied rows differently.
    checked = np.zeros(n, dtype=bool)
    hits: list[Hit] = []
    while True:
        picked = np.argpartition(-scores, window - 1)[:window] if window < n else np.arange(n)
        ordered = picked[np.lexsort((rows[picked], -scores[picked]))]
        for i in ordered[~checked[ordered]]:
            if predicate(metadata[rows[i]]):
                hits.append(Hit(snapshot.ids[rows[i]], float(scores[i])))
                if len(hits) == k:
                    return hits
        if window == n:
            return hits
        checked[ordered] = True
        window = min(n, window * 8)


def dense_search(
    snapshot: Snapshot, queries: np.ndarray, top_k: list[int], predicates: list[Predicate]
) -> list[list[Hit]]:
    """The ``top_k[i]`` nearest rows to ``queries[i]`` by cosine, passing ``predicates[i]``."""
    if not snapshot.ids or len(queries) == 0:
        return [[] for _ in range(len(queries))]
    norms = np.linalg.norm(queries, axis=1, keepdims=True)
    unit = np.divide(queries, norms, out=np.zeros_like(queries), where=norms > 0)
    unit = unit.astype(np.float32)
    if len(unit) == 1:
        # A matrix-vector product (gemv) is markedly faster than a one-column gemm here.
        cosines = (snapshot.matrix @ unit[0])[:, np.newaxis]
    else:
        cosines = snapshot.matrix @ unit.T  # (n, number of queries)
    rows = np.arange(len(snapshot.ids), dtype=np.int64)
    return [
        _best(snapshot, rows, cosines[:, column], k, predicate)
        for column, (k, predicate) in enumerate(zip(top_k, predicates, strict=True))
    ]


def idf(documents: int, containing: np.ndarray) -> np.ndarray:
    """Upstash's IDF: ln((N − n(q) + 0.5) / (n(q) + 0.5) + 1), never negative."""
    return np.log((documents - containing + 0.5) / (containing + 0.5) + 1.0)


def sparse_search(
    snapshot: Snapshot, query: SparseVector, k: int, predicate: Predicate, weight_idf: bool
) -> list[Hit]:
    """Rows sharing at least one dimension with ``query``, by dot product (IDF-weighted if asked).

    A row that shares no dimension does not match at all, so fewer than ``k`` may come back.
    """
    postings = snapshot.sparse
    if len(query) == 0 or len(postings.dims) == 0:
        return []
    low = np.searchsorted(postings.dims, query.indices, side="left")
    high = np.searchsorted(postings.dims, query.indices, side="right")
    counts = high - low
    total = int(counts.sum())
    if total == 0:
        return []
    weights = query.values.astype(np.float64)
    if weight_idf:
        weights = weights * idf(postings.documents, counts.astype(np.float64))
    # The positions of every posting of every query dimension, without a Python loop.
    offsets = np.concatenate(([0], np.cumsum(counts)[:-1]))
    positions = np.repeat(low - offsets, counts) + np.arange(total)
    rows = postings.rows[positions]
    contributions = postings.values[positions] * np.repeat(weights, counts)
    # Two O(n) bincounts rather than sorting the postings: common terms have many.
    n = len(snapshot.ids)
    matched = np.flatnonzero(np.bincount(rows, minlength=n))
    scores = np.bincount(rows, weights=contributions, minlength=n)[matched]
    return _best(snapshot, matched, scores, k, predicate)
