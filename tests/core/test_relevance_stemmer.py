"""The C Snowball stemmer (PyStemmer, shipped with the ask functions for speed) gives exactly the
stems of the pure-Python one (the layer's fallback), so relevance scores and the refusal settings
calibrated on them do not depend on which one a deployment runs."""

from __future__ import annotations

import re
from pathlib import Path

import Stemmer
from snowballstemmer.english_stemmer import EnglishStemmer

REPO = Path(__file__).resolve().parents[2]


def test_c_and_pure_python_english_stemmers_agree_on_every_word_of_our_data():
    words = set()
    for path in (REPO / "data").rglob("*.json"):
        words |= set(re.findall(r"[^\W_]+", path.read_text(encoding="utf-8").casefold()))
    words |= {"noodles", "running", "spicier", "fermented", "generously", "hákarl"}
    words = sorted(words)
    assert len(words) > 1000
    assert Stemmer.Stemmer("english").stemWords(words) == EnglishStemmer().stemWords(words)
