"""BM25 sparse vectors, as Upstash's hosted ``BM25`` sparse model computes them.

English only: lowercased word tokens, stop words removed, Snowball (Porter 2) stems from
PyStemmer. A document's value for a term is BM25's term-frequency part with k1 = 1.2, b = 0.75
and the average document length fixed at 32 tokens; a query's value is 1 per distinct term. The
inverse document frequency is not baked in: the index keeps per-namespace statistics and applies
it at query time when asked (``weightingStrategy: "IDF"``), as Upstash does.

A term's dimension is a stable 31-bit hash of its stem, so vectors are identical across restarts
and machines (Upstash's own term ids are not published).
"""

from __future__ import annotations

import hashlib
import re
import threading
from collections import Counter
from functools import lru_cache

import numpy as np

from ragfood_vector.sparse import MAX_SPARSE_ENTRIES, SparseVector

MODEL_NAME = "BM25"
K1 = 1.2
B = 0.75
AVERAGE_DOCUMENT_LENGTH = 32.0

_WORD = re.compile(r"[^\W_]+")

# NLTK's English stop word list (the usual one for English BM25), without the forms with an
# apostrophe: the tokenizer splits "don't" into "don" and "t", both listed.
_ENGLISH_STOP_WORDS = """
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
STOP_WORDS = frozenset(_ENGLISH_STOP_WORDS.split())


class _Stemmers(threading.local):
    """PyStemmer's stemmer objects are not thread-safe: one per request thread."""

    def __init__(self) -> None:
        import Stemmer

        self.english = Stemmer.Stemmer("english")


_stemmers = _Stemmers()


@lru_cache(maxsize=1 << 17)
def term_index(stem: str) -> int:
    """The dimension of a stem: blake2b, not hash(), which Python salts per process."""
    digest = hashlib.blake2b(stem.encode(), digest_size=4).digest()
    return int.from_bytes(digest, "big") & 0x7FFFFFFF


def terms(text: str) -> list[str]:
    """The stems BM25 counts in ``text``, in order (stop words removed)."""
    words = [w for w in _WORD.findall(text.lower()) if w not in STOP_WORDS]
    return list(_stemmers.english.stemWords(words)) if words else []


def _vector(weights: dict[int, float]) -> SparseVector:
    items = sorted(weights.items())
    if len(items) > MAX_SPARSE_ENTRIES:
        # Keep the heaviest terms (ties: the lower dimension) within Upstash's limit.
        items = sorted(sorted(items, key=lambda kv: -kv[1])[:MAX_SPARSE_ENTRIES])
    return SparseVector(
        indices=np.array([k for k, _ in items], dtype=np.int32),
        values=np.array([v for _, v in items], dtype=np.float32),
    )


def document_vector(text: str) -> SparseVector:
    """BM25 term-frequency weights of a document: tf·(k1+1) / (tf + k1·(1 − b + b·|D|/avgdl))."""
    stems = terms(text)
    norm = K1 * (1.0 - B + B * len(stems) / AVERAGE_DOCUMENT_LENGTH)
    weights: dict[int, float] = {}
    for stem, count in Counter(stems).items():
        index = term_index(stem)
        # Two stems hashing to one dimension add up, as one term would.
        weights[index] = weights.get(index, 0.0) + count * (K1 + 1.0) / (count + norm)
    return _vector(weights)


def query_vector(text: str) -> SparseVector:
    """A query: weight 1 for each distinct term (the IDF is applied by the index)."""
    return _vector({term_index(stem): 1.0 for stem in terms(text)})
