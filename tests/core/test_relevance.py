"""Specification of relevance: lexical coverage, ranking and the refusal decision (pure)."""

from __future__ import annotations

import pytest

from ragfood.relevance import (
    WEIGHT_FLOOR,
    Found,
    RelevanceSettings,
    content_terms,
    coverage,
    merge_candidates,
    question_terms,
    rank,
    select,
    term_weights,
)


def found(item_id: str, score: float, document: str) -> Found:
    return Found(item_id, score, document, document, None, None)


def test_content_terms_drop_stop_words_stem_and_fold_accents():
    assert content_terms("What is Hákarl made of?") == content_terms("hakarl made")
    assert content_terms("stews stewed") == frozenset({"stew"})
    assert content_terms("the dumplings") == frozenset({"dumpl"})
    assert content_terms("Which is it?") == frozenset()


@pytest.mark.parametrize("text", ["Pho Bo", "STRASSE", "Straße", "Crème brûlée", "ramen ﬁsh", "Ǆ"])
def test_folding_takes_the_ascii_shortcut_only_when_it_changes_nothing(text: str):
    import unicodedata

    from ragfood.relevance import _fold

    decomposed = unicodedata.normalize("NFKD", text.casefold())
    assert _fold(text) == "".join(ch for ch in decomposed if not unicodedata.combining(ch))


def test_a_word_no_candidate_contains_weighs_most_and_a_shared_one_least():
    docs = [content_terms(t) for t in ("beef noodle soup", "beef stew", "beef pie")]
    weights = term_weights(content_terms("beef okonomiyaki"), docs)
    assert weights["okonomiyaki"] > weights["beef"] > 0


def test_a_word_every_candidate_shares_still_counts_for_something():
    # Every candidate is Australian; the one that mentions a capital says nothing of Australia.
    docs = [content_terms(f"{dish}, popular in Australia") for dish in "abcdefghi"]
    docs.append(content_terms("noodle soup of the former capital"))
    weights = term_weights(content_terms("capital of Australia"), docs)
    assert weights["australia"] >= WEIGHT_FLOOR * weights["capit"]
    assert coverage(weights, docs[-1]) < 0.8  # not "covered" by half of the question


def test_how_a_question_is_asked_does_not_count_against_the_item_that_answers_it():
    dense = [found("jalebi", 0.76, "jalebi, a syrupy dessert from India")]
    asked = merge_candidates("Can you recommend a dessert from India?", dense)
    assert asked[0].coverage == 1.0
    assert question_terms("Which country does bibimbap come from?") == {"bibimbap"}
    assert question_terms("What's the difference between pierogi and varenyky?") == {
        "pierogi",
        "varenyki",
    }


def test_coverage_is_the_weighted_share_of_question_words_in_the_document():
    weights = {"cassareep": 3.0, "stew": 1.0}
    assert coverage(weights, frozenset({"cassareep", "stew", "beef"})) == 1.0
    assert coverage(weights, frozenset({"stew"})) == 0.25
    assert coverage({}, frozenset({"stew"})) == 0.0


def test_an_item_only_the_sparse_side_found_gets_the_dense_floor_not_a_free_pass():
    dense = [found("a", 0.9, "pho noodle soup"), found("b", 0.7, "ramen noodle soup")]
    sparse = [found("c", 12.5, "pepperpot cassareep stew"), found("a", 9.0, "pho noodle soup")]
    by_id = {c.id: c for c in merge_candidates("cassareep stew", dense, sparse)}
    assert set(by_id) == {"a", "b", "c"}
    assert (by_id["c"].dense, by_id["c"].dense_known) == (0.7, False)
    assert (by_id["a"].dense, by_id["a"].dense_known) == (0.9, True)  # dense score wins
    assert by_id["c"].coverage == 1.0 and by_id["a"].coverage == 0.0


def test_lexical_weight_zero_is_plain_dense_ranking():
    dense = [found("a", 0.8, "beef stew"), found("b", 0.7, "pepperpot with cassareep")]
    candidates = merge_candidates("pepperpot with cassareep stew", dense)
    assert [c.id for c, _ in rank(candidates, RelevanceSettings(0.0, 0.0))] == ["a", "b"]
    assert [c.id for c, _ in rank(candidates, RelevanceSettings(0.5, 0.0))] == ["b", "a"]


def test_nothing_is_returned_when_the_best_candidate_is_below_the_min_score():
    candidates = merge_candidates("what is okonomiyaki", [found("a", 0.74, "japanese pancake")])
    assert select(candidates, RelevanceSettings(0.3, 0.6), top_k=3) == []
    kept = select(candidates, RelevanceSettings(0.3, 0.5), top_k=3)
    assert [c.id for c, _ in kept] == ["a"] and kept[0][1] == pytest.approx(0.7 * 0.74)


def test_a_question_naming_a_missing_dish_scores_below_one_naming_a_present_one():
    docs = [
        found("feijoada", 0.80, "Feijoada is a Brazilian black bean stew with pork."),
        found("moqueca", 0.79, "Moqueca is a Brazilian fish stew with coconut milk."),
    ]
    settings = RelevanceSettings(0.3, 0.0)
    asked = "What is the Brazilian dish {} made from?"
    present = rank(merge_candidates(asked.format("feijoada"), docs), settings)
    missing = rank(merge_candidates(asked.format("vatapa"), docs), settings)
    assert present[0][0].id == "feijoada" and present[0][1] > missing[0][1]


def test_top_k_limits_the_sources():
    dense = [found(str(n), 0.9 - n / 100, "soup") for n in range(6)]
    assert len(select(merge_candidates("soup", dense), RelevanceSettings(0.2, 0.1), top_k=3)) == 3


def test_coverage_stems_exactly_as_the_services_stemmer():
    """Coverage must use the stems BM25 uses: the local service stems with PyStemmer, the Lambda
    layer (no PyStemmer there) with snowballstemmer's pure-Python English stemmer."""
    import re

    import Stemmer
    from snowballstemmer.english_stemmer import EnglishStemmer

    from tests.cli.conftest import REPO

    # Every labelled set's foods and questions (holdout, holdout2, holdout3...): accented names.
    labelled = sorted((REPO / "data" / "eval").rglob("*.json"))
    assert len(labelled) >= 7
    text = "".join(path.read_text() for path in [REPO / "data" / "foods.json", *labelled])
    words = sorted(set(re.findall(r"[^\W_]+", text.lower())))
    assert len(words) > 5000
    assert EnglishStemmer().stemWords(words) == Stemmer.Stemmer("english").stemWords(words)
