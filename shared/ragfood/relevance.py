"""How relevant a retrieved item is to a question, and whether anything relevant was found.

Pure functions, no I/O. A candidate's relevance is a blend of two pieces of evidence, both in 0..1:

- its dense score (Upstash's normalised cosine, (1 + cos) / 2), which captures meaning;
- its lexical coverage: the share of the question's content words that the item contains, with
  the tokenisation Upstash's hosted BM25 uses (English stop words removed, Snowball stems), plus
  accent folding so that "hakarl" matches "hákarl", and question-framing words ("recommend",
  "difference", "dish", …; `question_terms`) left out; each word weighted by how rare it is among
  the question's candidates, whatever filter narrows them (`term_weights`, `merge_candidates`).

    relevance = (1 - lexical_weight) * dense + lexical_weight * coverage

Candidates are ranked by relevance, and a question is refused (no sources) when the best one is
below ``min_score``. Both settings are chosen by cross-validation (`ragfood eval --calibrate`).
With ``lexical_weight = 0`` this is plain dense retrieval with a score threshold.

Why not the server's fused scores: RRF scores only encode ranks and DBSF scores depend on the
spread of each list, so neither says how well the best item answers the question; the dense score
plus coverage does, and ranking by the same number keeps the order and the refusal consistent.
"""

from __future__ import annotations

import math
import re
import threading
import unicodedata
from collections.abc import Sequence
from functools import lru_cache
from typing import NamedTuple

import snowballstemmer

# NLTK's English stop word list, as the local BM25 service uses it (forms with an apostrophe
# dropped: the tokenizer splits "don't" into "don" and "t", both listed).
_STOP_WORDS = """
    a about above after again against ain all am an and any are aren as at be because been
    before being below between both but by can couldn d did didn do does doesn doing don down
    during each few for from further had hadn has hasn have haven having he her here hers
    herself him himself his how i if in into is isn it its itself just ll m ma me mightn more
    most mustn my myself needn no nor not now o of off on once only or other our ours ourselves
    out over own re s same shan she should shouldn so some such t than that the their theirs
    them themselves then there these they this those through to too under until up ve very was
    wasn we were weren what when where which while who whom why will with won wouldn y you your
    yours yourself yourselves
"""
STOP_WORDS = frozenset(_STOP_WORDS.split())

# Question-framing words: how people ask and request ("can you recommend", "tell me about",
# "what is the difference between", "what kind of dish is called"), not what they ask about.
# They describe the asking, not the food, so a knowledge base item is never expected to contain
# them; left in, a word no candidate contains gets the most weight (`term_weights`) and lowers
# every candidate's coverage, answerable questions included. Coverage ignores them (the
# question's side only; the BM25 query still gets the whole question). Written from how
# questions and requests are phrased in general, not from any labelled question (and before
# data/eval/holdout2, whose questions it was first scored on, was written). The last line asks
# "where from", like the stop word "where": an item names its region, never "country" or "origin"
# ("Which country does bibimbap come from?").
_FRAMING_WORDS = """
    ask tell explain describe recommend suggest know wonder think want need like try give
    show name list find look help call mean
    difference different similar kind sort type example thing something anything one
    dish food
    please could would might may must shall also else another
    country come origin originate
"""

_WORD = re.compile(r"[^\W_]+")


class _Stemmer(threading.local):
    """Stemmer objects keep state between calls: one per thread (the API serves threads)."""

    def __init__(self) -> None:
        self.english = snowballstemmer.stemmer("english")


_stemmer = _Stemmer()


def _fold(text: str) -> str:
    folded = text.casefold()
    if folded.isascii():  # most texts: nothing to decompose, no accent to drop
        return folded
    decomposed = unicodedata.normalize("NFKD", folded)
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch))


@lru_cache(maxsize=4096)
def content_terms(text: str) -> frozenset[str]:
    """The distinct stems of a text's content words (stop words removed, accents folded)."""
    words = [w for w in _WORD.findall(_fold(text)) if w not in STOP_WORDS]
    return frozenset(_stemmer.english.stemWords(words)) if words else frozenset()


# The least a question word counts, as a share of its rarest word's weight (see `term_weights`).
WEIGHT_FLOOR = 0.3


def question_terms(question: str) -> frozenset[str]:
    """The question's content stems that coverage counts: its content terms minus framing."""
    return content_terms(question) - content_terms(_FRAMING_WORDS)


def term_weights(words: frozenset[str], documents: Sequence[frozenset[str]]) -> dict[str, float]:
    """How much each question word counts: its inverse document frequency among the candidates,
    ln((P + 1) / (n + 0.5)) for a word in n of the P candidate documents, but never less than
    `WEIGHT_FLOOR` times the rarest word's.

    Words every candidate shares ("dish", "made", the region asked about) say little about which
    item answers; a word no candidate contains (the name of a dish the knowledge base lacks)
    weighs most, so missing it costs most. It needs no corpus statistics and no extra request.
    The floor keeps a shared word from counting for nothing: when every candidate is Australian
    and the best-scoring one says nothing of Australia ("What is the capital of Australia?"),
    the question is not covered (held-out effect: docs/performance.md, Retrieval).
    """
    size = len(documents)
    weights = {
        term: math.log((size + 1) / (sum(term in doc for doc in documents) + 0.5)) for term in words
    }
    least = WEIGHT_FLOOR * max(weights.values(), default=0.0)
    return {term: max(weight, least) for term, weight in weights.items()}


def coverage(weights: dict[str, float], document_terms: frozenset[str]) -> float:
    """Weighted share of the question's content words found in one document, 0..1."""
    total = sum(weights.values())
    if total <= 0:
        return 0.0
    return sum(w for term, w in weights.items() if term in document_terms) / total


# Immutable records are NamedTuples: a frozen dataclass compiles its methods when its module
# is imported (~0.5 ms each of every cold start), a NamedTuple ~0.07 ms (docs/performance.md).
class Found(NamedTuple):
    """One item as the index returned it. ``document`` is the indexed (enriched) text, which
    coverage is measured on; ``text`` is the item's own text, shown to users."""

    id: str
    score: float
    document: str
    text: str
    region: str | None
    type: str | None


class Candidate(NamedTuple):
    """One retrieved item with the evidence for it."""

    id: str
    dense: float  # normalised dense score, 0..1
    coverage: float  # lexical coverage of the question, 0..1
    text: str
    region: str | None
    type: str | None
    dense_known: bool = True  # False: found by the sparse side only; ``dense`` is a bound


class RelevanceSettings(NamedTuple):
    lexical_weight: float
    min_score: float

    def score(self, candidate: Candidate) -> float:
        w = self.lexical_weight
        return (1.0 - w) * candidate.dense + w * candidate.coverage


def merge_candidates(
    question: str,
    dense: Sequence[Found],
    sparse: Sequence[Found] = (),
    unfiltered: Sequence[Found] = (),
) -> list[Candidate]:
    """Candidates from a dense list (best first, normalised scores) and a sparse list.

    An item only the sparse side found gets the lowest score of the dense list: its own dense
    score is at most that (it did not make the dense list), so the bound never helps it more than
    it deserves on the dense side; its coverage is exact. Sparse scores themselves are not used:
    they are unbounded and depend on the corpus.

    Word rarity (`term_weights`) is measured among the candidates, or, for a filtered question,
    among its `unfiltered` candidates: a filter narrows which items may answer, not how relevant
    an item is. Among the few items a filter admits, a word they all lack would outweigh the
    answer's own name, and the answer would be refused only because a filter was set.
    """
    floor = min((found.score for found in dense), default=0.0)
    unique: dict[str, tuple[Found, bool]] = {}
    for found, known in [(f, True) for f in dense] + [(f, False) for f in sparse]:
        unique.setdefault(found.id, (found, known))
    terms = {item_id: content_terms(found.document) for item_id, (found, _) in unique.items()}
    around = {found.id: content_terms(found.document) for found in unfiltered} or terms
    weights = term_weights(question_terms(question), list(around.values()))
    return [
        Candidate(
            found.id,
            float(found.score) if known else floor,
            coverage(weights, terms[found.id]),
            found.text,
            found.region,
            found.type,
            known,
        )
        for found, known in unique.values()
    ]


def rank(
    candidates: Sequence[Candidate], settings: RelevanceSettings
) -> list[tuple[Candidate, float]]:
    """Candidates with their relevance, best first (ties: higher dense score, then id)."""
    scored = [(c, settings.score(c)) for c in candidates]
    scored.sort(key=lambda pair: (-pair[1], -pair[0].dense, pair[0].id))
    return scored


def select(
    candidates: Sequence[Candidate], settings: RelevanceSettings, top_k: int
) -> list[tuple[Candidate, float]]:
    """The ``top_k`` best candidates, or none when even the best is below ``min_score``."""
    ranked = rank(candidates, settings)
    if not ranked or ranked[0][1] < settings.min_score:
        return []
    return ranked[:top_k]
