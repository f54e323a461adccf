"""The BM25 sparse model on its own: tokens, stop words, stems, weights and limits, checked
against the formula Upstash documents (k1 = 1.2, b = 0.75, average document length 32)."""

from __future__ import annotations

import subprocess
import sys

import pytest

from ragfood_vector import bm25
from ragfood_vector.sparse import MAX_SPARSE_ENTRIES


def weight(tf: int, length: int) -> float:
    return tf * (1.2 + 1) / (tf + 1.2 * (1 - 0.75 + 0.75 * length / 32))


def as_dict(vector: bm25.SparseVector) -> dict[int, float]:
    return {int(i): float(v) for i, v in zip(vector.indices, vector.values, strict=True)}


def test_text_is_lowercased_split_on_punctuation_and_stop_words_are_dropped() -> None:
    assert bm25.terms("The SOUP, and the noodles!") == bm25.terms("soup noodles")
    assert bm25.terms("the and of it was is") == []


def test_words_are_stemmed_by_a_snowball_stemmer() -> None:
    # Porter 2 (Snowball English): inflections of one word share a stem.
    assert len(set(bm25.terms("fry fried fries frying"))) == 1
    assert bm25.terms("noodles") == bm25.terms("noodle")
    assert bm25.terms("dumplings") == bm25.terms("dumpling")
    assert bm25.terms("running") == ["run"]


def test_document_weights_follow_bm25_with_the_fixed_average_length() -> None:
    # 3 counted tokens (the stop words "the", "with" are not counted): noodl twice, soup once.
    vector = as_dict(bm25.document_vector("the noodles with noodle soup"))
    noodle, soup = bm25.term_index("noodl"), bm25.term_index("soup")

    assert set(vector) == {noodle, soup}
    assert vector[noodle] == pytest.approx(weight(2, 3), rel=1e-6)
    assert vector[soup] == pytest.approx(weight(1, 3), rel=1e-6)


def test_a_document_as_long_as_the_average_gets_the_plain_saturation() -> None:
    text = " ".join(f"word{i}" for i in range(31)) + " word0"  # 32 tokens, word0 twice
    vector = as_dict(bm25.document_vector(text))

    assert vector[bm25.term_index("word0")] == pytest.approx(2 * 2.2 / (2 + 1.2), rel=1e-6)
    assert vector[bm25.term_index("word1")] == pytest.approx(2.2 / (1 + 1.2), rel=1e-6)


def test_longer_documents_weigh_a_term_less() -> None:
    short = as_dict(bm25.document_vector("saffron rice"))
    long = as_dict(bm25.document_vector("saffron rice " + " ".join(["beans"] * 60)))
    saffron = bm25.term_index("saffron")

    assert long[saffron] < short[saffron]


def test_queries_weigh_each_distinct_term_once() -> None:
    vector = as_dict(bm25.query_vector("noodles, noodles and more noodle soup"))

    assert vector == {bm25.term_index("noodl"): 1.0, bm25.term_index("soup"): 1.0}


def test_indices_are_sorted_signed_32_bit_and_stable_across_processes() -> None:
    vector = bm25.document_vector("grilled fish with lime and chili")
    indices = [int(i) for i in vector.indices]
    assert indices == sorted(indices) and all(0 <= i < 2**31 for i in indices)

    # A fresh interpreter (another hash seed) gives the same dimensions.
    code = "from ragfood_vector import bm25; print(bm25.term_index('lime'))"
    other = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    assert int(other) == bm25.term_index("lime")


def test_at_most_1000_non_zero_entries_keeping_the_heaviest() -> None:
    words = [f"w{i}x" for i in range(1200)]
    text = " ".join(words + ["w5x"] * 3)  # w5x is the most frequent term

    vector = bm25.document_vector(text)

    assert len(vector) == MAX_SPARSE_ENTRIES
    assert bm25.term_index(bm25.terms("w5x")[0]) in set(int(i) for i in vector.indices)


def test_text_without_counted_words_gives_an_empty_vector() -> None:
    assert len(bm25.document_vector("... the, of; and!")) == 0
    assert len(bm25.query_vector("")) == 0
