"""ask(question) -> Answer: retrieve, ground, generate; degrade to quoting sources, never fail
because the generator did.

An uncached ask costs two network round trips (one query, one generation); a repeat of the same
question within the cache TTL costs none. Every ask has a deadline (ragfood.budget): the query, its
retries and the generation share it, and an answer that cannot be generated in time quotes its
sources instead. "No information" results are cached briefly if at all (see docs/deploy.md,
freshness): they are the ones an upload is meant to change.
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Callable
from typing import Any, NamedTuple

from cachetools import TTLCache

from ragfood import budget
from ragfood.budget import BudgetExhausted, Deadline
from ragfood.config import LEXICAL_WEIGHT, MIN_SCORE
from ragfood.errors import GeneratorError, GeneratorTimeout, RagfoodError
from ragfood.generator import GeneratorClient
from ragfood.log import logger
from ragfood.prompt import NO_ANSWER, OUT_OF_TIME_LABEL, build_messages, extractive_answer
from ragfood.relevance import RelevanceSettings
from ragfood.retrieval import RetrievalMode, Retriever
from ragfood.vector import Hit, VectorGateway, build_filter

MAX_QUESTION_CHARS = 2000


class InvalidQuestion(RagfoodError, ValueError):
    """The caller's request is unusable; the message names the field."""


class AskOptions(NamedTuple):  # not a frozen dataclass: cheaper to define (ragfood.relevance)
    top_k: int | None = None
    min_score: float | None = None
    region: str | None = None
    type: str | None = None
    namespace: str | None = None


class Answer(NamedTuple):  # immutable like the other records (ragfood.relevance), also cached
    question: str
    answer: str
    sources: list[Hit]
    generator: dict[str, Any]
    degraded: bool = False
    reason: str | None = None
    timings_ms: dict[str, float] = {}  # noqa: RUF012 (never mutated: `_ask` sets its own)
    cached: bool = False

    def as_dict(self) -> dict[str, Any]:
        return {
            "answer": self.answer,
            "sources": [hit.as_dict() for hit in self.sources],
            "generator": self.generator,
            "degraded": self.degraded,
            "reason": self.reason,
            "timings_ms": self.timings_ms,
            "cached": self.cached,
        }


OnToken = Callable[[str], None]
OnSources = Callable[[list[Hit]], None]


class Pipeline:
    def __init__(
        self,
        gateway: VectorGateway,
        generator: GeneratorClient | None,
        *,
        top_k: int = 4,
        min_score: float = MIN_SCORE,
        namespace: str = "",
        cache_ttl_s: float = 300.0,
        cache_size: int = 256,
        no_answer_ttl_s: float = 0.0,
        budget_s: float = 25.0,
        lexical_weight: float = LEXICAL_WEIGHT,
        retrieval: RetrievalMode = "auto",
    ) -> None:
        self.gateway = gateway
        self.retriever = Retriever(
            gateway, RelevanceSettings(lexical_weight, min_score), mode=retrieval
        )
        self.generator = generator
        self.top_k = top_k
        self.min_score = min_score
        self.namespace = namespace
        self.budget_s = budget_s
        self._cache: TTLCache[tuple[Any, ...], Answer] | None = (
            TTLCache(cache_size, cache_ttl_s) if cache_size and cache_ttl_s else None
        )
        # An upload is meant to turn "no information" into an answer: never keep that result as
        # long as an answer (by default not at all; it costs one query, never a generation).
        no_answer_ttl_s = min(no_answer_ttl_s, cache_ttl_s)
        self._no_answer_cache: TTLCache[tuple[Any, ...], Answer] | None = (
            TTLCache(cache_size, no_answer_ttl_s) if cache_size and no_answer_ttl_s else None
        )
        self._lock = threading.Lock()  # TTLCache is not thread-safe; the API serves threads

    def ask(
        self,
        question: str,
        options: AskOptions | None = None,
        *,
        on_token: OnToken | None = None,
        on_sources: OnSources | None = None,
        deadline: Deadline | None = None,
    ) -> Answer:
        """Answer from the knowledge base. With `on_token`, stream the generated text to it;
        `on_sources` gets the sources as soon as they are known (before any token).

        The answer comes by `deadline` (default: RAGFOOD_ASK_BUDGET_S from now, or an enclosing
        scope's deadline if sooner). Raises VectorError if the sources cannot be retrieved in time.
        """
        started = time.perf_counter()
        with budget.within(deadline or Deadline.after(self.budget_s)) as deadline:
            return self._ask(question, options, on_token, on_sources, deadline, started)

    def _ask(
        self,
        question: str,
        options: AskOptions | None,
        on_token: OnToken | None,
        on_sources: OnSources | None,
        deadline: Deadline,
        started: float,
    ) -> Answer:
        options = self._with_defaults(options or AskOptions())
        question = clean_question(question)
        filter_ = _filter_for(options)
        # The filter is the normalised form of region and type, so it stands for them in the key.
        key = (
            " ".join(question.casefold().split()),
            options.top_k,
            options.min_score,
            filter_,
            options.namespace,
        )
        cached = self._cached(key)
        if cached is not None:
            if on_sources:
                on_sources(cached.sources)
            if on_token:
                on_token(cached.answer)
            return cached._replace(cached=True, timings_ms={"total": _ms(started)})

        hits = self._query(question, options, filter_)
        retrieved = time.perf_counter()
        if on_sources:
            on_sources(hits)
        timings = {"retrieve": _ms(started)}
        if not hits:
            answer = Answer(question, NO_ANSWER, [], {"kind": "none", "model": None})
            if on_token:
                on_token(answer.answer)
        elif self.generator is None:
            answer = Answer(
                question, extractive_answer(hits), hits, {"kind": "extractive", "model": None}
            )
            if on_token:
                on_token(answer.answer)
        else:
            answer = self._generate(question, hits, on_token, deadline)
            timings["generate"] = _ms(retrieved)
        timings["total"] = _ms(started)
        answer = answer._replace(timings_ms=timings)
        if not answer.degraded:
            self._remember(key, answer)
        logger.info(
            "answered",
            extra={
                "sources": len(hits),
                "generator": answer.generator["kind"],
                "degraded": answer.degraded,
                "timings_ms": timings,
            },
        )
        return answer

    def retrieve(self, question: str, options: AskOptions) -> list[Hit]:
        """The sources for a question, without generating (also used by `ragfood eval`)."""
        options = self._with_defaults(options)
        return self._query(question, options, _filter_for(options))

    def _with_defaults(self, options: AskOptions) -> AskOptions:
        return options._replace(
            top_k=options.top_k or self.top_k,
            min_score=self.min_score if options.min_score is None else options.min_score,
            namespace=self.namespace if options.namespace is None else options.namespace,
        )

    def _query(self, question: str, options: AskOptions, filter_: str) -> list[Hit]:
        return self.retriever.retrieve(
            question,
            namespace=options.namespace or "",
            top_k=options.top_k or self.top_k,
            min_score=options.min_score,
            filter_=filter_,
        )

    def _generate(
        self, question: str, hits: list[Hit], on_token: OnToken | None, deadline: Deadline
    ) -> Answer:
        assert self.generator is not None
        info = {"kind": self.generator.api, "model": self.generator.model}
        messages = build_messages(question, hits)
        parts: list[str] = []
        label = None
        try:
            if deadline.expired:
                raise BudgetExhausted("retrieval used the whole time budget")
            # Always streamed, even when the caller wants the whole answer: a trickling generator
            # is then cut at the deadline, and what it said so far is kept.
            for fragment in budget.until(self.generator.stream(messages), deadline):
                parts.append(fragment)
                if on_token:
                    on_token(fragment)
            if not "".join(parts).strip():
                raise GeneratorError("the generator streamed an empty answer")
            return Answer(question, "".join(parts).strip(), hits, info)
        except (GeneratorError, BudgetExhausted) as exc:
            reason = str(exc)
            if isinstance(exc, BudgetExhausted) or (
                isinstance(exc, GeneratorTimeout) and deadline.expired
            ):
                label = OUT_OF_TIME_LABEL
                reason = (
                    "the time budget ran out before the generator finished "
                    f"(RAGFOOD_ASK_BUDGET_S={self.budget_s:g} s, or less when the caller's "
                    "deadline is sooner)"
                )
            logger.warning("generator failed; answering from sources", extra={"reason": reason})
            fallback = extractive_answer(hits, degraded=True, label=label)
            text = fallback
            if parts:  # the stream broke midway: keep what arrived, then the sources
                text = "".join(parts).strip() + "\n\n" + fallback
            if on_token:
                on_token("\n\n" + fallback if parts else fallback)
            return Answer(
                question, text, hits, {**info, "kind": "extractive"}, degraded=True, reason=reason
            )

    def _cached(self, key: tuple[Any, ...]) -> Answer | None:
        with self._lock:
            for cache in (self._cache, self._no_answer_cache):
                if cache is not None and (hit := cache.get(key)) is not None:
                    return hit
        return None

    def _remember(self, key: tuple[Any, ...], answer: Answer) -> None:
        cache = self._cache if answer.sources else self._no_answer_cache
        if cache is not None:
            with self._lock:
                cache[key] = answer


def _filter_for(options: AskOptions) -> str:
    try:
        return build_filter(options.region, options.type)
    except ValueError as exc:
        raise InvalidQuestion(str(exc)) from None


_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


def clean_question(question: str) -> str:
    if not isinstance(question, str):
        raise InvalidQuestion("question: must be a string")
    question = _CONTROL.sub(" ", question).strip()
    if not question:
        raise InvalidQuestion("question: must not be empty")
    if len(question) > MAX_QUESTION_CHARS:
        raise InvalidQuestion(f"question: must be at most {MAX_QUESTION_CHARS} characters")
    return question


def _ms(since: float) -> float:
    return round((time.perf_counter() - since) * 1000, 1)
