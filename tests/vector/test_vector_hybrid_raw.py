"""Raw sparse vectors on a hybrid index (/upsert, /query, /update, /fetch, /range), their
validation, and what a dense-only index answers to hybrid requests."""

from __future__ import annotations

import math
from collections.abc import Callable

import httpx
import numpy as np
import pytest
from upstash_vector import Index, Vector
from upstash_vector.errors import UpstashError
from upstash_vector.types import Data, FusionAlgorithm, QueryMode, SparseVector, WeightingStrategy

from ragfood_vector import bm25

Vec = Callable[..., list[float]]
Post = Callable[..., httpx.Response]


def hybrid(vector_id: str, dense: list[float], indices: list[int], values: list[float]) -> Vector:
    return Vector(id=vector_id, vector=dense, sparse_vector=SparseVector(indices, values))


@pytest.fixture
def three(hybrid_index: Index, fresh_namespace: str, vec: Vec) -> str:
    hybrid_index.upsert(
        [
            hybrid("a", vec(1, 0), [1, 2], [0.5, 2.0]),
            hybrid("b", vec(0, 1), [2, 3], [1.0, 4.0]),
            hybrid("c", vec(1, 1), [7], [1.0]),
        ],
        namespace=fresh_namespace,
    )
    return fresh_namespace


def ids_scores(results) -> list[tuple[str, float]]:
    return [(r.id, r.score) for r in results]


def test_a_sparse_query_scores_the_dot_product_of_matching_dimensions(
    hybrid_index: Index, three: str
) -> None:
    results = hybrid_index.query(
        sparse_vector=SparseVector([2, 3, 99], [3.0, 1.0, 5.0]), top_k=10, namespace=three
    )

    # a: 2.0·3 = 6; b: 1.0·3 + 4.0·1 = 7; c shares no dimension and is not returned.
    assert ids_scores(results) == [("b", pytest.approx(7.0)), ("a", pytest.approx(6.0))]


def test_idf_weighting_of_a_raw_sparse_query(hybrid_index: Index, three: str) -> None:
    def idf(containing: int) -> float:
        return math.log((3 - containing + 0.5) / (containing + 0.5) + 1)

    results = hybrid_index.query(
        sparse_vector=SparseVector([2, 3], [1.0, 1.0]),
        weighting_strategy=WeightingStrategy.IDF,
        namespace=three,
    )

    expected = {"a": 2.0 * idf(2), "b": 1.0 * idf(2) + 4.0 * idf(1)}
    assert {r.id: r.score for r in results} == pytest.approx(expected)


def test_a_dense_vector_alone_queries_the_dense_side(
    hybrid_index: Index, three: str, vec: Vec
) -> None:
    results = hybrid_index.query(vector=vec(1, 0), top_k=3, namespace=three)

    assert [r.id for r in results] == ["a", "c", "b"]
    assert results[0].score == pytest.approx(1.0) and results[2].score == pytest.approx(0.5)


def test_both_vectors_give_a_fused_query(hybrid_index: Index, three: str, vec: Vec) -> None:
    rrf = hybrid_index.query(
        vector=vec(1, 0), sparse_vector=SparseVector([3], [1.0]), top_k=3, namespace=three
    )
    dbsf = hybrid_index.query(
        vector=vec(1, 0),
        sparse_vector=SparseVector([3], [1.0]),
        fusion_algorithm=FusionAlgorithm.DBSF,
        top_k=3,
        namespace=three,
    )

    # dense ranks a, c, b; sparse has only b. RRF: a 1/61, b 1/63 + 1/61, c 1/62.
    assert ids_scores(rrf) == [
        ("b", pytest.approx(1 / 63 + 1 / 61)),
        ("a", pytest.approx(1 / 61)),
        ("c", pytest.approx(1 / 62)),
    ]
    # DBSF: the dense list (normalised cosines 1, (1 + 1/√2) / 2, 0.5) is scaled by its mean ± 3σ;
    # the one-result sparse list has σ = 0 and normalises to 0.5, which b gains.
    dense = np.array([1.0, (1 + 1 / math.sqrt(2)) / 2, 0.5])
    scaled = (dense - (dense.mean() - 3 * dense.std())) / (6 * dense.std())
    assert ids_scores(dbsf) == [
        ("b", pytest.approx(scaled[2] + 0.5)),
        ("a", pytest.approx(scaled[0])),
        ("c", pytest.approx(scaled[1])),
    ]


def test_query_results_fetch_and_range_carry_the_sparse_vector(
    hybrid_index: Index, three: str
) -> None:
    [queried] = hybrid_index.query(
        sparse_vector=SparseVector([7], [1.0]), include_vectors=True, namespace=three
    )
    [fetched] = hybrid_index.fetch("b", include_vectors=True, namespace=three)
    ranged = hybrid_index.range(limit=10, include_vectors=True, namespace=three).vectors

    assert queried.sparse_vector == SparseVector([7], [1.0])
    assert fetched is not None and fetched.sparse_vector == SparseVector([2, 3], [1.0, 4.0])
    assert [v.sparse_vector for v in ranged] == [
        SparseVector([1, 2], [0.5, 2.0]),
        SparseVector([2, 3], [1.0, 4.0]),
        SparseVector([7], [1.0]),
    ]
    [without] = hybrid_index.fetch("b", namespace=three)
    assert without is not None and without.sparse_vector is None


def test_a_hybrid_index_needs_both_vectors_on_upsert(
    hybrid_index: Index, fresh_namespace: str, vec: Vec
) -> None:
    with pytest.raises(UpstashError, match=r"no .sparseVector.*needs both"):
        hybrid_index.upsert([Vector(id="d", vector=vec(1))], namespace=fresh_namespace)
    with pytest.raises(UpstashError, match=r"no dense .vector.*needs both"):
        hybrid_index.upsert(
            [Vector(id="s", sparse_vector=SparseVector([1], [1.0]))], namespace=fresh_namespace
        )
    assert hybrid_index.info().namespaces.get(fresh_namespace) is None


@pytest.mark.parametrize(
    ("sparse", "message"),
    [
        ({"indices": [1, 2], "values": [1.0]}, "same size"),
        ({"indices": [3, 3], "values": [1.0, 2.0]}, "must not repeat"),
        ({"indices": [1.5], "values": [1.0]}, "must be integers"),
        ({"indices": [2**31], "values": [1.0]}, "signed 32-bit"),
        ({"indices": [1], "values": ["x"]}, "must be numbers"),
        ({"indices": list(range(1001)), "values": [1.0] * 1001}, "the maximum is 1000"),
        ({"values": [1.0]}, "needs 'indices' and 'values'"),
        ([1, 2], "must be an object"),
    ],
    ids=["lengths", "repeat", "float-index", "int32", "value-type", "1001", "missing", "list"],
)
def test_invalid_sparse_vectors_are_refused_with_the_reason(
    post: Post, fresh_namespace: str, vec: Vec, sparse: object, message: str
) -> None:
    upsert = post(
        f"upsert/{fresh_namespace}", [{"id": "x", "vector": vec(1), "sparseVector": sparse}]
    )
    queried = post(f"query/{fresh_namespace}", {"sparseVector": sparse})

    for response in (upsert, queried):
        assert response.status_code == 400
        assert message in response.json()["error"]


def test_exactly_1000_entries_are_accepted(
    hybrid_index: Index, fresh_namespace: str, vec: Vec
) -> None:
    sparse = SparseVector(list(range(-500, 500)), [1.0] * 1000)
    hybrid_index.upsert([Vector(id="big", vector=vec(1), sparse_vector=sparse)], fresh_namespace)

    [result] = hybrid_index.query(sparse_vector=sparse, namespace=fresh_namespace)

    assert result.id == "big" and result.score == pytest.approx(1000.0)


def test_update_replaces_the_sparse_vector(hybrid_index: Index, three: str, vec: Vec) -> None:
    assert hybrid_index.update(
        "c", vector=vec(1, 1), sparse_vector=SparseVector([42], [2.0]), namespace=three
    )

    def sparse_ids(dimension: int) -> list[str]:
        found = hybrid_index.query(sparse_vector=SparseVector([dimension], [1.0]), namespace=three)
        return [r.id for r in found]

    assert sparse_ids(42) == ["c"] and sparse_ids(7) == []


def test_a_hybrid_update_needs_both_vectors_or_neither(
    hybrid_index: Index, three: str, vec: Vec
) -> None:
    # Upstash: "For hybrid indexes either none or both of vector and sparseVector fields must be
    # present. It is not allowed to update only vector or sparseVector."
    with pytest.raises(UpstashError, match=r"both .vector. and .sparseVector. or neither"):
        hybrid_index.update("c", sparse_vector=SparseVector([42], [2.0]), namespace=three)
    with pytest.raises(UpstashError, match=r"both .vector. and .sparseVector. or neither"):
        hybrid_index.update("c", vector=vec(0, 1), data="new text", namespace=three)

    [c] = hybrid_index.fetch("c", include_vectors=True, include_data=True, namespace=three)
    assert c is not None and c.sparse_vector == SparseVector([7], [1.0])
    assert c.vector == vec(1, 1) and c.data is None
    assert hybrid_index.update("c", metadata={"kept": True}, namespace=three)


def test_update_with_new_data_recomputes_both_sides(
    hybrid_index: Index, fresh_namespace: str
) -> None:
    hybrid_index.upsert([Data(id="d", data="tomato soup")], namespace=fresh_namespace)

    hybrid_index.update("d", data="saffron rice", namespace=fresh_namespace)

    def sparse(text: str) -> list[str]:
        found = hybrid_index.query(
            data=text, query_mode=QueryMode.SPARSE, namespace=fresh_namespace
        )
        return [r.id for r in found]

    assert sparse("saffron") == ["d"] and sparse("tomato") == []
    [fetched] = hybrid_index.fetch("d", include_vectors=True, namespace=fresh_namespace)
    assert fetched is not None and fetched.sparse_vector is not None
    assert fetched.sparse_vector.indices == bm25.document_vector("saffron rice").indices.tolist()


def test_query_data_refuses_vectors(post: Post, fresh_namespace: str) -> None:
    response = post(
        f"query-data/{fresh_namespace}",
        {"data": "rice", "sparseVector": {"indices": [1], "values": [1.0]}},
    )

    assert response.status_code == 400 and "takes 'data'" in response.json()["error"]


# -- a dense-only index (--sparse none) -------------------------------------------------------


def test_a_dense_only_index_reports_no_sparse_index(index: Index) -> None:
    info = index.info()

    assert info.dense_index is not None and info.sparse_index is None


def test_a_hybrid_index_reports_both_components(hybrid_index: Index) -> None:
    info = hybrid_index.info()

    assert info.dense_index is not None and info.dense_index.dimension == 384
    assert info.dense_index.embedding_model == "ragfood/hash-384"
    assert info.sparse_index is not None and info.sparse_index.embedding_model == "BM25"


def test_index_type_is_reported_on_the_wire(post: Post, vector_server) -> None:
    hybrid_info = post("info", None).json()["result"]
    dense_info = post("info", None, server=vector_server).json()["result"]

    assert (hybrid_info["indexType"], dense_info["indexType"]) == ("HYBRID", "DENSE")
    assert "sparseIndex" not in dense_info


def test_a_dense_only_index_refuses_sparse_queries(index: Index, fresh_namespace: str) -> None:
    index.upsert([Data(id="a", data="rice")], namespace=fresh_namespace)

    with pytest.raises(UpstashError, match="queryMode SPARSE needs a hybrid index"):
        index.query(data="rice", query_mode=QueryMode.SPARSE, namespace=fresh_namespace)
    with pytest.raises(UpstashError, match="Sparse vectors are not supported"):
        index.query(sparse_vector=SparseVector([1], [1.0]), namespace=fresh_namespace)
    with pytest.raises(UpstashError, match="Sparse vectors are not supported"):
        index.update("a", sparse_vector=SparseVector([1], [1.0]), namespace=fresh_namespace)


def test_a_dense_only_index_answers_hybrid_and_dense_modes_densely(
    index: Index, fresh_namespace: str
) -> None:
    index.upsert(
        [Data(id="a", data="rice cake"), Data(id="b", data="beef stew")], namespace=fresh_namespace
    )
    plain = ids_scores(index.query(data="rice", namespace=fresh_namespace))

    for mode in (QueryMode.HYBRID, QueryMode.DENSE):
        found = index.query(
            data="rice",
            query_mode=mode,
            fusion_algorithm=FusionAlgorithm.DBSF,
            weighting_strategy=WeightingStrategy.IDF,
            namespace=fresh_namespace,
        )
        assert ids_scores(found) == plain


def test_query_many_sends_raw_hybrid_batches(hybrid_index: Index, three: str, vec: Vec) -> None:
    # The SDK can express these (vectors, fusion, weighting); only text queries lose queryMode.
    dense, sparse, both = hybrid_index.query_many(
        queries=[
            {"vector": vec(1, 0), "top_k": 1},
            {"sparse_vector": SparseVector([3], [1.0]), "top_k": 3},
            {
                "vector": vec(0, 1),
                "sparse_vector": SparseVector([1], [1.0]),
                "fusion_algorithm": FusionAlgorithm.RRF,
                "top_k": 2,
            },
        ],
        namespace=three,
    )

    assert [r.id for r in dense] == ["a"]
    assert ids_scores(sparse) == [("b", pytest.approx(4.0))]
    # Each side brings its top 2: dense b, c; sparse only a. a and b tie at 1/61 (ties: by id).
    assert ids_scores(both) == [("a", pytest.approx(1 / 61)), ("b", pytest.approx(1 / 61))]
