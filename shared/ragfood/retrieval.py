"""Retrieval for the ask path: one vector request, then ranking and the refusal decision.

The index kind (hybrid: dense + sparse, or dense only) is read from `info()` once per container,
unless `RAGFOOD_RETRIEVAL` pins it. On a hybrid index one batch request returns the dense and the
sparse candidates; on a dense-only index one query returns the dense ones. Either way the
candidates are ranked by `ragfood.relevance` and refused when the best is not relevant enough.
"""

from __future__ import annotations

import threading
from typing import Literal

from ragfood.log import logger
from ragfood.relevance import Candidate, RelevanceSettings, merge_candidates, select
from ragfood.vector import Hit, VectorGateway

RetrievalMode = Literal["auto", "dense", "hybrid"]

# Candidates asked of each side: enough for the right item to be among them when one side ranks
# it low, few enough to keep the response small (each carries its text).
CANDIDATE_DEPTH = 10


class Retriever:
    def __init__(
        self,
        gateway: VectorGateway,
        relevance: RelevanceSettings,
        *,
        mode: RetrievalMode = "auto",
        depth: int = CANDIDATE_DEPTH,
    ) -> None:
        self.gateway = gateway
        self.relevance = relevance
        self.depth = depth
        self._hybrid: bool | None = {"auto": None, "dense": False, "hybrid": True}[mode]
        self._lock = threading.Lock()

    @property
    def hybrid(self) -> bool:
        """Whether the index is hybrid: pinned, or read from `info()` once."""
        if self._hybrid is None:
            with self._lock:
                if self._hybrid is None:
                    info = self.gateway.info()
                    self._hybrid = info.hybrid
                    logger.info(
                        "index kind detected",
                        extra={"hybrid": info.hybrid, "sparse_model": info.sparse_model},
                    )
        return self._hybrid

    def candidates(
        self, question: str, *, namespace: str = "", filter_: str = "", top_k: int = 4
    ) -> list[Candidate]:
        """Every candidate with its evidence, unranked (`ragfood eval --calibrate` uses these).

        A filtered question also gets its unfiltered candidates, in the same request, for
        weighing its words (`merge_candidates`).
        """
        found = self.gateway.find_each(
            question,
            filters=(filter_, "") if filter_ else ("",),
            namespace=namespace,
            depth=max(self.depth, top_k),
            hybrid=self.hybrid,
        )
        (dense, sparse), *unfiltered = found
        around = [hit for lists in unfiltered for side in lists for hit in side]
        return merge_candidates(question, dense, sparse, around)

    def retrieve(
        self,
        question: str,
        *,
        namespace: str = "",
        filter_: str = "",
        top_k: int = 4,
        min_score: float | None = None,
        lexical_weight: float | None = None,
    ) -> list[Hit]:
        """The best `top_k` sources, or none when nothing relevant was found.

        `min_score` / `lexical_weight` override the configured ones (0 / 0: plain dense ranking).
        """
        settings = RelevanceSettings(
            self.relevance.lexical_weight if lexical_weight is None else lexical_weight,
            self.relevance.min_score if min_score is None else min_score,
        )
        found = self.candidates(question, namespace=namespace, filter_=filter_, top_k=top_k)
        return [
            Hit(c.id, score, c.text, c.region, c.type)
            for c, score in select(found, settings, top_k)
        ]
