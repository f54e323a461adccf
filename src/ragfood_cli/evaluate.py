"""Retrieval evaluation over a labelled question set (`ragfood eval`).

Each question lists the ids that answer it (none for questions the data cannot answer). We report
recall@k (a relevant item among the first k), MRR, how often unanswerable questions are refused at
the configured min score, and how often answerable ones are wrongly refused.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ragfood.vector import Hit

KS = (1, 3, 5)


@dataclass(frozen=True)
class Question:
    question: str
    expected_ids: tuple[str, ...]
    kind: str = "direct"

    @property
    def answerable(self) -> bool:
        return bool(self.expected_ids)


@dataclass
class EvalResult:
    min_score: float
    answerable: int = 0
    unanswerable: int = 0
    hits_at: dict[int, int] = field(default_factory=lambda: {k: 0 for k in KS})
    reciprocal_rank_sum: float = 0.0
    refused_correctly: int = 0
    refused_wrongly: int = 0
    by_kind: dict[str, dict[str, float]] = field(default_factory=dict)
    misses: list[dict[str, Any]] = field(default_factory=list)

    def recall(self, k: int) -> float:
        return self.hits_at[k] / self.answerable if self.answerable else 0.0

    @property
    def mrr(self) -> float:
        return self.reciprocal_rank_sum / self.answerable if self.answerable else 0.0

    @property
    def refusal_rate(self) -> float:
        return self.refused_correctly / self.unanswerable if self.unanswerable else 0.0

    @property
    def false_refusal_rate(self) -> float:
        return self.refused_wrongly / self.answerable if self.answerable else 0.0

    def as_dict(self) -> dict[str, Any]:
        return {
            "questions": self.answerable + self.unanswerable,
            "answerable": self.answerable,
            "unanswerable": self.unanswerable,
            **{f"recall@{k}": round(self.recall(k), 3) for k in KS},
            "mrr": round(self.mrr, 3),
            "min_score": self.min_score,
            "no_answer_refused": round(self.refusal_rate, 3),
            "answerable_wrongly_refused": round(self.false_refusal_rate, 3),
            "by_kind": self.by_kind,
            "misses": self.misses,
        }


def load_questions(path: Path) -> list[Question]:
    data = json.loads(path.read_text())
    if not isinstance(data, list):
        raise ValueError(f"{path}: expected a JSON array of questions")
    questions = []
    for n, item in enumerate(data):
        if not isinstance(item, dict) or not isinstance(item.get("question"), str):
            raise ValueError(f"{path}: item {n} needs a 'question' string")
        expected = item.get("expected_ids", [])
        if not isinstance(expected, list) or not all(isinstance(i, str) for i in expected):
            raise ValueError(f"{path}: item {n}: 'expected_ids' must be a list of ids")
        questions.append(Question(item["question"], tuple(expected), str(item.get("kind", ""))))
    return questions


def evaluate(
    questions: Sequence[Question],
    retrieve: Callable[[str], list[Hit]],
    *,
    min_score: float,
) -> EvalResult:
    """`retrieve` must return up to max(KS) hits, best first, without a score threshold."""
    result = EvalResult(min_score=min_score)
    kinds: dict[str, list[float]] = {}
    for q in questions:
        hits = retrieve(q.question)
        passes = bool(hits) and hits[0].score >= min_score
        if not q.answerable:
            result.unanswerable += 1
            result.refused_correctly += not passes
            kinds.setdefault(q.kind, []).append(float(not passes))
            if passes:
                result.misses.append({"question": q.question, "got": hits[0].id, "expected": []})
            continue
        result.answerable += 1
        ids = [hit.id for hit in hits]
        rank = next((n for n, i in enumerate(ids, start=1) if i in q.expected_ids), None)
        for k in KS:
            result.hits_at[k] += rank is not None and rank <= k
        result.reciprocal_rank_sum += 1 / rank if rank else 0.0
        result.refused_wrongly += not passes
        kinds.setdefault(q.kind, []).append(float(rank is not None and rank <= 3))
        if rank != 1:
            result.misses.append(
                {"question": q.question, "got": ids[:3], "expected": list(q.expected_ids)}
            )
    result.by_kind = {
        kind: {"questions": len(v), "score": round(sum(v) / len(v), 3)} for kind, v in kinds.items()
    }
    return result
