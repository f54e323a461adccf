"""Query by vector and by data: normalised cosine scores, ordering, top_k, include flags,
filters and batches (query_many)."""

from __future__ import annotations

from collections.abc import Callable

import httpx
import numpy as np
from upstash_vector import Index

from ragfood_vector.launcher import VectorServer

Vec = Callable[..., list[float]]


def normalised_cosine(a: list[float], b: list[float]) -> float:
    x, y = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    return float((1 + x @ y / (np.linalg.norm(x) * np.linalg.norm(y))) / 2)


def test_scores_are_cosine_similarity_normalised_to_zero_one(
    index: Index, fresh_namespace: str, vec: Vec
) -> None:
    stored = {"a": vec(1, 2, 3), "b": vec(-1, 0.5, 2), "c": vec(0, -4, 1), "d": vec(3, 3, -3)}
    index.upsert(list(stored.items()), namespace=fresh_namespace)
    query = vec(0.3, -1, 2)

    results = index.query(vector=query, top_k=4, namespace=fresh_namespace)

    assert {r.id for r in results} == set(stored)
    for result in results:
        assert abs(result.score - normalised_cosine(query, stored[result.id])) < 1e-5


def test_identical_orthogonal_and_opposite_vectors_score_one_half_and_zero(
    index: Index, fresh_namespace: str, vec: Vec
) -> None:
    index.upsert(
        [("same", vec(2, 0)), ("orthogonal", vec(0, 5)), ("opposite", vec(-1, 0))],
        namespace=fresh_namespace,
    )

    scores = {
        r.id: r.score for r in index.query(vector=vec(1, 0), top_k=3, namespace=fresh_namespace)
    }

    assert abs(scores["same"] - 1.0) < 1e-6
    assert abs(scores["orthogonal"] - 0.5) < 1e-6
    assert abs(scores["opposite"] - 0.0) < 1e-6


def test_results_are_sorted_by_descending_score(index: Index, fresh_namespace: str) -> None:
    rng = np.random.default_rng(1)
    index.upsert([(f"r{i}", rng.normal(size=384)) for i in range(50)], namespace=fresh_namespace)

    results = index.query(vector=rng.normal(size=384), top_k=50, namespace=fresh_namespace)

    scores = [r.score for r in results]
    assert len(scores) == 50 and scores == sorted(scores, reverse=True)


def test_top_k_limits_the_number_of_results_to_the_best(index: Index, fresh_namespace: str) -> None:
    rng = np.random.default_rng(2)
    vectors = rng.normal(size=(30, 384))
    index.upsert([(f"r{i}", v) for i, v in enumerate(vectors)], namespace=fresh_namespace)
    query = rng.normal(size=384)

    results = index.query(vector=query, top_k=5, namespace=fresh_namespace)

    cosines = vectors @ query / np.linalg.norm(vectors, axis=1)
    expected = [f"r{i}" for i in np.argsort(-cosines)[:5]]
    assert [r.id for r in results] == expected


def test_query_without_include_flags_returns_ids_and_scores_only(
    index: Index, fresh_namespace: str, vec: Vec
) -> None:
    index.upsert([("a", vec(1), {"m": 1}, "data")], namespace=fresh_namespace)

    [result] = index.query(vector=vec(1), namespace=fresh_namespace)

    assert (result.vector, result.metadata, result.data) == (None, None, None)


def test_include_flags_add_vector_metadata_and_data(
    index: Index, fresh_namespace: str, vec: Vec
) -> None:
    index.upsert([("a", vec(1, 1), {"m": 1}, "data")], namespace=fresh_namespace)

    [result] = index.query(
        vector=vec(1),
        include_vectors=True,
        include_metadata=True,
        include_data=True,
        namespace=fresh_namespace,
    )

    assert (result.vector, result.metadata, result.data) == (vec(1, 1), {"m": 1}, "data")


def test_filter_keeps_only_matching_vectors(index: Index, fresh_namespace: str, vec: Vec) -> None:
    index.upsert(
        [
            ("soup", vec(1, 0.1), {"course": "starter", "price": 6}),
            ("steak", vec(1, 0.2), {"course": "main", "price": 24}),
            ("salad", vec(1, 0.3), {"course": "starter", "price": 8}),
        ],
        namespace=fresh_namespace,
    )

    results = index.query(
        vector=vec(1),
        top_k=10,
        filter="course = 'starter' AND price < 7",
        namespace=fresh_namespace,
    )

    assert [r.id for r in results] == ["soup"]


def test_filter_applies_before_top_k(index: Index, fresh_namespace: str, vec: Vec) -> None:
    near = [(f"near{i}", vec(1, i * 0.01), {"keep": False}) for i in range(20)]
    far = [("far", vec(0, 1), {"keep": True})]
    index.upsert([*near, *far], namespace=fresh_namespace)

    results = index.query(vector=vec(1), top_k=1, filter="keep = true", namespace=fresh_namespace)

    assert [r.id for r in results] == ["far"]


def test_query_by_data_ranks_texts_sharing_words_first(index: Index, fresh_namespace: str) -> None:
    index.upsert(
        [
            ("curry", "chickpea curry with coconut milk"),
            ("cake", "chocolate layer cake with ganache"),
            ("salad", "greek salad with feta and olives"),
        ],
        namespace=fresh_namespace,
    )

    results = index.query(
        data="coconut curry", top_k=3, include_data=True, namespace=fresh_namespace
    )

    assert results[0].id == "curry"
    assert results[0].data == "chickpea curry with coconut milk"
    assert results[0].score > results[1].score


def test_query_on_an_empty_namespace_returns_no_results(
    index: Index, fresh_namespace: str, vec: Vec
) -> None:
    assert index.query(vector=vec(1), namespace=fresh_namespace) == []


def test_query_many_with_vectors_returns_one_result_list_per_query(
    index: Index, fresh_namespace: str, vec: Vec
) -> None:
    index.upsert([("x", vec(1)), ("y", vec(0, 1)), ("z", vec(0, 0, 1))], namespace=fresh_namespace)

    results = index.query_many(
        queries=[{"vector": vec(1), "top_k": 1}, {"vector": vec(0, 0, 1), "top_k": 2}],
        namespace=fresh_namespace,
    )

    assert len(results) == 2
    assert [r.id for r in results[0]] == ["x"]
    assert len(results[1]) == 2 and results[1][0].id == "z"


def test_query_many_with_data(index: Index, fresh_namespace: str) -> None:
    index.upsert(
        [("pho", "beef pho noodle soup"), ("tart", "lemon tart")], namespace=fresh_namespace
    )

    results = index.query_many(
        queries=[{"data": "noodle soup", "top_k": 1}, {"data": "lemon dessert", "top_k": 1}],
        namespace=fresh_namespace,
    )

    assert [result[0].id for result in results] == ["pho", "tart"]


def test_query_many_with_one_query_returns_one_list(
    index: Index, fresh_namespace: str, vec: Vec
) -> None:
    index.upsert([("x", vec(1))], namespace=fresh_namespace)

    results = index.query_many(queries=[{"vector": vec(1), "top_k": 1}], namespace=fresh_namespace)

    assert [[r.id for r in result] for result in results] == [["x"]]


def test_a_raw_single_element_batch_is_answered_as_a_plain_list(
    vector_server: VectorServer, fresh_namespace: str, vec: Vec
) -> None:
    # The SDK relies on this: query_many sends one query alone for that reason.
    headers = {"Authorization": f"Bearer {vector_server.token}"}
    httpx.post(
        f"{vector_server.url}/upsert/{fresh_namespace}",
        json={"id": "x", "vector": vec(1)},
        headers=headers,
    )

    answer = httpx.post(
        f"{vector_server.url}/query/{fresh_namespace}",
        json=[{"vector": vec(1), "topK": 1}],
        headers=headers,
    ).json()

    assert answer["result"][0]["id"] == "x"
