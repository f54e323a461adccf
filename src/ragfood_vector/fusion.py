"""Fusing the dense and the sparse result lists of a hybrid query, as Upstash documents it.

- RRF: each result scores 1 / (60 + rank) in each list it appears in (rank 1 = best); summed.
- DBSF: each list's scores are normalised as (s − (μ − 3σ)) / ((μ + 3σ) − (μ − 3σ)) with μ, σ the
  mean and (population) standard deviation of that list; summed. A list whose scores are all
  equal (σ = 0, e.g. a single result) normalises to 0.5 each: the middle of its range.

Ties are broken by id, so answers are deterministic.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ragfood_vector.search import Hit

RRF_K = 60


def _rrf_scores(hits: Sequence[Hit]) -> dict[str, float]:
    return {hit.id: 1.0 / (RRF_K + rank) for rank, hit in enumerate(hits, start=1)}


def _dbsf_scores(hits: Sequence[Hit]) -> dict[str, float]:
    if not hits:
        return {}
    scores = np.array([hit.score for hit in hits], dtype=np.float64)
    mean, std = float(scores.mean()), float(scores.std())
    if std == 0.0:
        return {hit.id: 0.5 for hit in hits}
    low = mean - 3.0 * std
    return {hit.id: (hit.score - low) / (6.0 * std) for hit in hits}


def fuse(dense: Sequence[Hit], sparse: Sequence[Hit], algorithm: str, top_k: int) -> list[Hit]:
    """The ``top_k`` best of the union of both lists by fused score (best first)."""
    mapper = _rrf_scores if algorithm == "RRF" else _dbsf_scores
    fused: dict[str, float] = {}
    for side in (mapper(dense), mapper(sparse)):
        for vector_id, score in side.items():
            fused[vector_id] = fused.get(vector_id, 0.0) + score
    ranked = sorted(fused.items(), key=lambda item: (-item[1], item[0]))
    return [Hit(vector_id, score) for vector_id, score in ranked[:top_k]]
