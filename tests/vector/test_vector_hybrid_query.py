"""A hybrid index queried with text through the SDK: queryMode HYBRID/DENSE/SPARSE, RRF and DBSF
fusion, IDF weighting, filters, include flags, and batches honouring each query's mode."""

from __future__ import annotations

import math
from collections.abc import Callable

import httpx
import numpy as np
import pytest
from upstash_vector import Index
from upstash_vector.types import Data, FusionAlgorithm, QueryMode, WeightingStrategy

from ragfood_vector import bm25
from ragfood_vector.embedders import HashEmbedder

Post = Callable[..., httpx.Response]

DISHES = {
    "pad-thai": "Pad thai: rice noodles fried in a wok with tamarind, fish sauce and peanuts.",
    "ramen": "Ramen is a noodle soup with pork broth, soy sauce and a soft egg.",
    "mochi": "Mochi are sweet rice cakes pounded from glutinous rice.",
    "ceviche": "Ceviche: raw fish cured in lime juice with chili and red onion.",
    "goulash": "Goulash is a stew of beef and paprika from Hungary.",
    "fries": "French fries: potatoes cut in sticks and frying twice in oil.",
}


@pytest.fixture
def dishes(hybrid_index: Index, fresh_namespace: str) -> str:
    hybrid_index.upsert(
        [Data(id=key, data=text, metadata={"kind": key[0]}) for key, text in DISHES.items()],
        namespace=fresh_namespace,
    )
    return fresh_namespace


def query(index: Index, namespace: str, text: str, **options: object) -> list[tuple[str, float]]:
    results = index.query(data=text, namespace=namespace, **options)  # type: ignore[arg-type]
    return [(r.id, r.score) for r in results]


def sparse_score(query_text: str, document: str, idf: dict[int, float] | None = None) -> float:
    """BM25 of a document for a query, from the model's own vectors (query weights are 1)."""
    doc = dict(zip(bm25.document_vector(document).indices.tolist(),
                   bm25.document_vector(document).values.tolist(), strict=True))  # fmt: skip
    dims = bm25.query_vector(query_text).indices.tolist()
    return sum(doc.get(d, 0.0) * (idf[d] if idf else 1.0) for d in dims)


def test_sparse_mode_returns_only_documents_sharing_a_stemmed_term(
    hybrid_index: Index, dishes: str
) -> None:
    # "frying" and "fried" share the stem "fri"; "noodle" and "noodles" the stem "noodl".
    results = query(hybrid_index, dishes, "frying noodle", query_mode=QueryMode.SPARSE, top_k=10)

    assert {doc for doc, _ in results} == {"pad-thai", "ramen", "fries"}
    for doc, score in results:
        assert score == pytest.approx(sparse_score("frying noodle", DISHES[doc]), rel=1e-5)
    assert [s for _, s in results] == sorted((s for _, s in results), reverse=True)


def test_sparse_scores_are_not_normalised(hybrid_index: Index, dishes: str) -> None:
    [(_, score)] = query(
        hybrid_index, dishes, "rice rice mochi cakes", query_mode=QueryMode.SPARSE, top_k=1
    )

    assert score > 1.0


def test_a_query_of_stop_words_matches_nothing_on_the_sparse_side(
    hybrid_index: Index, dishes: str
) -> None:
    assert query(hybrid_index, dishes, "what is it", query_mode=QueryMode.SPARSE) == []


def test_dense_mode_scores_are_the_normalised_cosine(hybrid_index: Index, dishes: str) -> None:
    embedder = HashEmbedder(384)
    question = embedder.embed_one("noodle soup")

    results = query(hybrid_index, dishes, "noodle soup", query_mode=QueryMode.DENSE, top_k=6)

    assert len(results) == 6  # every document: the dense side matches all of them
    for doc, score in results:
        cosine = float(np.dot(question, embedder.embed_one(DISHES[doc])))
        assert score == pytest.approx((1 + cosine) / 2, abs=1e-5)


def rrf(*sides: list[tuple[str, float]]) -> dict[str, float]:
    fused: dict[str, float] = {}
    for side in sides:
        for rank, (doc, _) in enumerate(side, start=1):
            fused[doc] = fused.get(doc, 0.0) + 1 / (60 + rank)
    return fused


def dbsf(*sides: list[tuple[str, float]]) -> dict[str, float]:
    fused: dict[str, float] = {}
    for side in sides:
        scores = np.array([s for _, s in side])
        mean, std = scores.mean(), scores.std()
        for doc, score in side:
            normalised = (score - (mean - 3 * std)) / (6 * std) if std else 0.5
            fused[doc] = fused.get(doc, 0.0) + normalised
    return fused


@pytest.mark.parametrize(
    ("algorithm", "expected_fusion"),
    [(None, rrf), (FusionAlgorithm.RRF, rrf), (FusionAlgorithm.DBSF, dbsf)],
    ids=["default-is-rrf", "rrf", "dbsf"],
)
def test_hybrid_mode_fuses_the_dense_and_sparse_lists(
    hybrid_index: Index, dishes: str, algorithm: FusionAlgorithm | None, expected_fusion
) -> None:
    text, k = "fried noodles with fish sauce", 4
    dense = query(hybrid_index, dishes, text, query_mode=QueryMode.DENSE, top_k=k)
    sparse = query(hybrid_index, dishes, text, query_mode=QueryMode.SPARSE, top_k=k)
    options = {} if algorithm is None else {"fusion_algorithm": algorithm}

    hybrid = query(hybrid_index, dishes, text, top_k=k, **options)  # HYBRID is the default

    expected = sorted(expected_fusion(dense, sparse).items(), key=lambda kv: (-kv[1], kv[0]))[:k]
    assert [doc for doc, _ in hybrid] == [doc for doc, _ in expected]
    for (_, got), (_, want) in zip(hybrid, expected, strict=True):
        assert got == pytest.approx(want, rel=1e-6)


def test_explicit_hybrid_mode_is_the_default(hybrid_index: Index, dishes: str) -> None:
    assert query(hybrid_index, dishes, "lime fish", query_mode=QueryMode.HYBRID) == query(
        hybrid_index, dishes, "lime fish"
    )


def test_a_document_sharing_no_term_gets_only_its_dense_share(
    hybrid_index: Index, dishes: str
) -> None:
    text = "paprika beef"
    dense = query(hybrid_index, dishes, text, query_mode=QueryMode.DENSE, top_k=6)
    hybrid = dict(query(hybrid_index, dishes, text, top_k=6))

    assert set(hybrid) == set(DISHES)  # the dense side brings every document
    for rank, (doc, _) in enumerate(dense, start=1):
        if doc != "goulash":  # the only one sharing a term with the query
            assert hybrid[doc] == pytest.approx(1 / (60 + rank))
    assert max(hybrid, key=hybrid.__getitem__) == "goulash"


def test_idf_weighting_uses_the_namespace_statistics(hybrid_index: Index, dishes: str) -> None:
    text = "rice fish"
    documents = len(DISHES)
    containing = {
        d: sum(d in bm25.document_vector(t).indices.tolist() for t in DISHES.values())
        for d in bm25.query_vector(text).indices.tolist()
    }
    idf = {d: math.log((documents - n + 0.5) / (n + 0.5) + 1) for d, n in containing.items()}

    results = query(
        hybrid_index,
        dishes,
        text,
        query_mode=QueryMode.SPARSE,
        weighting_strategy=WeightingStrategy.IDF,
        top_k=10,
    )

    assert {doc for doc, _ in results} == {"pad-thai", "mochi", "ceviche"}
    for doc, score in results:
        assert score == pytest.approx(sparse_score(text, DISHES[doc], idf), rel=1e-5)


def test_filters_apply_to_both_sides(hybrid_index: Index, dishes: str) -> None:
    for mode in QueryMode:
        results = query(
            hybrid_index, dishes, "fried rice noodles", query_mode=mode, filter="kind = 'r'"
        )
        assert [doc for doc, _ in results] == ["ramen"], mode


def test_top_k_bounds_every_mode(hybrid_index: Index, dishes: str) -> None:
    for mode in QueryMode:
        assert len(query(hybrid_index, dishes, "rice noodles fish", query_mode=mode, top_k=2)) == 2


def test_include_vectors_returns_the_dense_and_the_bm25_sparse_vector(
    hybrid_index: Index, dishes: str
) -> None:
    [result] = hybrid_index.query(
        data="mochi", top_k=1, include_vectors=True, include_data=True, namespace=dishes
    )

    expected = bm25.document_vector(DISHES["mochi"])
    assert result.id == "mochi" and result.data == DISHES["mochi"]
    assert result.vector is not None and len(result.vector) == 384
    assert result.sparse_vector is not None
    assert result.sparse_vector.indices == expected.indices.tolist()
    assert result.sparse_vector.values == pytest.approx(expected.values.tolist(), rel=1e-6)


def test_a_batch_answers_each_query_in_its_own_mode(
    hybrid_index: Index, dishes: str, post: Post
) -> None:
    # Raw JSON: the SDK's query_many (0.8) does not pass query_mode through.
    batch = [
        {"data": "fried noodles", "topK": 3, "queryMode": "DENSE"},
        {"data": "fried noodles", "topK": 3, "queryMode": "SPARSE"},
        {"data": "fried noodles", "topK": 3, "fusionAlgorithm": "DBSF"},
        {"data": "lime fish", "topK": 2, "queryMode": "SPARSE", "weightingStrategy": "IDF"},
    ]

    response = post(f"query-data/{dishes}", batch)

    assert response.status_code == 200, response.text
    answers = [[(r["id"], r["score"]) for r in answer] for answer in response.json()["result"]]
    singles = [
        query(hybrid_index, dishes, "fried noodles", top_k=3, query_mode=QueryMode.DENSE),
        query(hybrid_index, dishes, "fried noodles", top_k=3, query_mode=QueryMode.SPARSE),
        query(hybrid_index, dishes, "fried noodles", top_k=3,
              fusion_algorithm=FusionAlgorithm.DBSF),
        query(hybrid_index, dishes, "lime fish", top_k=2, query_mode=QueryMode.SPARSE,
              weighting_strategy=WeightingStrategy.IDF),
    ]  # fmt: skip
    assert [[doc for doc, _ in a] for a in answers] == [[doc for doc, _ in a] for a in singles]
    for answer, single in zip(answers, singles, strict=True):
        # float32 products in a batch may round differently from a single query's
        assert [s for _, s in answer] == pytest.approx([s for _, s in single], rel=1e-6)
    assert answers[0] != answers[1]


@pytest.mark.parametrize(
    ("field", "value"),
    [("queryMode", "BOTH"), ("fusionAlgorithm", "MAX"), ("weightingStrategy", "BM25")],
)
def test_unknown_option_values_are_refused(dishes: str, post: Post, field: str, value: str) -> None:
    response = post(f"query-data/{dishes}", {"data": "rice", field: value})

    assert response.status_code == 400
    assert field in response.json()["error"] and value in response.json()["error"]
