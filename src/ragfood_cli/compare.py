"""Cross-validate retrieval before and after a migration: the same questions, both systems.

For each question we take the top-k ids from ChromaDB (its stored embeddings, the question
embedded by a function the user names) and the top-k from the index (the product's own
retrieval), and report how much they overlap, recall@k of each when the questions are labelled,
and the questions on which they disagree most. `compare` itself is pure: both searches are
passed in.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from ragfood.foods import FoodRecord
from ragfood_cli.question_file import Question

DEFAULT_K = 5
DEFAULT_SAMPLE = 25
SHOWN_DISAGREEMENTS = 10


class QueryEmbedder(Protocol):
    name: str

    def embed(self, texts: Sequence[str]) -> list[list[float]]: ...


class EmbedSpecError(ValueError):
    """--embed names no embedding function we can build."""


class _LocalEmbedder:
    """The local service's embedders (MiniLM, or the hash stand-in used by tests)."""

    def __init__(self, name: str, dimension: int) -> None:
        from ragfood_vector.embedders import make_embedder

        self.name = name if name == "minilm" else f"hash:{dimension}"
        self._embedder = make_embedder(name, dimension)

    def embed(self, texts: Sequence[str]) -> list[list[float]]:
        assert self._embedder is not None
        return self._embedder.embed(list(texts)).tolist()


class OllamaEmbedder:
    """An Ollama `/api/embed` endpoint (e.g. mxbai-embed-large, as the Chroma apps used)."""

    BATCH = 32

    def __init__(self, url: str, model: str, *, timeout_s: float = 60.0) -> None:
        from ragfood.redact import redact_url
        from ragfood.retry import RetryPolicy, retrying_client

        self.url = url.rstrip("/")
        self.model = model
        # The name is printed and reported: credentials in the URL (a proxy's) stay out of it.
        self.name = f"ollama:{redact_url(self.url)}#{model}"
        self._client = retrying_client(RetryPolicy(3, 0.5, 4.0), timeout_s)

    def embed(self, texts: Sequence[str]) -> list[list[float]]:
        import httpx

        vectors: list[list[float]] = []
        for start in range(0, len(texts), self.BATCH):
            batch = list(texts[start : start + self.BATCH])
            try:
                response = self._client.post(
                    f"{self.url}/api/embed", json={"model": self.model, "input": batch}
                )
            except httpx.HTTPError as exc:
                raise EmbedSpecError(f"cannot reach Ollama at {self.url}: {exc}") from None
            if response.status_code != 200:
                raise EmbedSpecError(
                    f"Ollama at {self.url} answered {response.status_code} for model "
                    f"{self.model!r}: {response.text[:200]}"
                )
            try:
                embeddings = response.json()["embeddings"]
            except (ValueError, KeyError, TypeError):
                raise EmbedSpecError(
                    f"Ollama at {self.url} sent no 'embeddings' (is it Ollama 0.3 or later?)"
                ) from None
            if len(embeddings) != len(batch):
                raise EmbedSpecError(
                    f"Ollama at {self.url} sent {len(embeddings)} embeddings for {len(batch)} texts"
                )
            vectors.extend([float(x) for x in vector] for vector in embeddings)
        return vectors


def make_query_embedder(spec: str) -> QueryEmbedder:
    """`minilm`, `hash[:DIM]` or `ollama:URL#MODEL`."""
    spec = spec.strip()
    if spec == "minilm":
        return _LocalEmbedder("minilm", 384)
    if spec == "hash" or spec.startswith("hash:"):
        dimension = spec.partition(":")[2] or "384"
        if not dimension.isdigit() or not 1 <= int(dimension) <= 4096:
            raise EmbedSpecError(f"--embed {spec}: the hash dimension must be 1..4096")
        return _LocalEmbedder("hash", int(dimension))
    if spec.startswith("ollama:"):
        url, _, model = spec.removeprefix("ollama:").partition("#")
        if not url.startswith(("http://", "https://")) or not model:
            raise EmbedSpecError(
                f"--embed {spec}: expected ollama:URL#MODEL, e.g. "
                "ollama:http://localhost:11434#mxbai-embed-large"
            )
        return OllamaEmbedder(url, model)
    raise EmbedSpecError(
        f"--embed {spec}: expected minilm, hash[:DIM] or ollama:URL#MODEL "
        "(the function the collection's documents were embedded with)"
    )


def sample_questions(records: Sequence[FoodRecord], count: int, seed: int) -> list[Question]:
    """Documents of the collection used as questions; each should find itself."""
    chosen = random.Random(seed).sample(list(records), min(count, len(records)))
    return [Question(record.text, (record.id,), "sample") for record in chosen]


@dataclass
class QuestionResult:
    question: str
    expected: tuple[str, ...]
    chroma: list[str]
    index: list[str]
    k: int

    @property
    def overlap(self) -> float:
        size = min(self.k, max(len(self.chroma), len(self.index)))
        return len(set(self.chroma) & set(self.index)) / size if size else 1.0

    def found(self, ids: list[str], k: int) -> bool:
        return any(i in self.expected for i in ids[:k])

    def as_dict(self) -> dict[str, Any]:
        return {
            "question": self.question,
            "expected": list(self.expected),
            "chroma": self.chroma,
            "index": self.index,
            "overlap": round(self.overlap, 3),
        }


@dataclass
class Comparison:
    k: int
    embedder: str
    index_ranking: str = "dense"
    results: list[QuestionResult] = field(default_factory=list)

    @property
    def labelled(self) -> list[QuestionResult]:
        return [r for r in self.results if r.expected]

    def overlap(self) -> float:
        return _mean([r.overlap for r in self.results])

    def top1_agreement(self) -> float:
        return _mean([float(r.chroma[:1] == r.index[:1]) for r in self.results])

    def recall(self, side: str, k: int) -> float | None:
        labelled = self.labelled
        if not labelled:
            return None
        return _mean([float(r.found(getattr(r, side), k)) for r in labelled])

    def split(self, side: str) -> int:
        """Labelled questions only `side` answers within k (the other misses)."""
        other = "index" if side == "chroma" else "chroma"
        return sum(
            r.found(getattr(r, side), self.k) and not r.found(getattr(r, other), self.k)
            for r in self.labelled
        )

    def disagreements(self, limit: int = SHOWN_DISAGREEMENTS) -> list[QuestionResult]:
        """Answered by one side only first, then a different top-1, then the least overlap."""

        def key(r: QuestionResult) -> tuple[int, int, float]:
            split = bool(r.expected) and r.found(r.chroma, self.k) != r.found(r.index, self.k)
            return (-int(split), -int(r.chroma[:1] != r.index[:1]), r.overlap)

        differing = [r for r in self.results if r.overlap < 1.0 or r.chroma != r.index]
        return sorted(differing, key=key)[:limit]

    def as_dict(self) -> dict[str, Any]:
        k = self.k
        data: dict[str, Any] = {
            "questions": len(self.results),
            "labelled": len(self.labelled),
            "k": k,
            "embedder": self.embedder,
            "index_ranking": self.index_ranking,
            f"overlap@{k}": round(self.overlap(), 3),
            "top1_agreement": round(self.top1_agreement(), 3),
        }
        for side in ("chroma", "index"):
            for at in sorted({1, k}):
                value = self.recall(side, at)
                data[f"{side}_recall@{at}"] = None if value is None else round(value, 3)
        data["only_chroma_found"] = self.split("chroma")
        data["only_index_found"] = self.split("index")
        data["disagreements"] = [r.as_dict() for r in self.disagreements()]
        return data


def compare(
    questions: Sequence[Question],
    chroma_search: Callable[[list[Question]], list[list[str]]],
    index_search: Callable[[str], list[str]],
    *,
    k: int = DEFAULT_K,
    embedder: str = "",
    index_ranking: str = "dense",
    progress: Callable[[int, int], None] | None = None,
) -> Comparison:
    """Both systems' top-k for every question."""
    chroma_ids = chroma_search(list(questions))
    comparison = Comparison(k=k, embedder=embedder, index_ranking=index_ranking)
    for n, (question, from_chroma) in enumerate(zip(questions, chroma_ids, strict=True), 1):
        comparison.results.append(
            QuestionResult(
                question.question,
                question.expected_ids,
                list(from_chroma[:k]),
                list(index_search(question.question)[:k]),
                k,
            )
        )
        if progress:
            progress(n, len(questions))
    return comparison


def _mean(values: list[float]) -> float:
    return sum(values) / len(values) if values else 0.0
