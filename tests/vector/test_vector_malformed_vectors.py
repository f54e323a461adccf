"""Malformed dense and sparse vectors on every endpoint that takes them: a clear 400 naming the
problem, never a 500 and never garbage stored (JSON booleans are not numbers, as the SDK's
types say: ``List[int]`` indices, ``List[float]`` values)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
import pytest
from upstash_vector import Index
from upstash_vector.types import SparseVector, Vector

from ragfood_vector.launcher import VectorServer

Post = Callable[..., httpx.Response]

DENSE = [0.5] * 384
SPARSE = {"indices": [1, 2], "values": [0.5, 0.5]}

BAD_DENSE = {
    "nested": [0.5] * 383 + [[1.0]],
    "bool": [0.5] * 383 + [True],
}
BAD_SPARSE = {
    "nested-index": ({"indices": [1, [2]], "values": [0.5, 0.5]}, "indices"),
    "nested-value": ({"indices": [1, 2], "values": [0.5, [0.5]]}, "values"),
    "bool-index": ({"indices": [2, True], "values": [0.5, 0.5]}, "indices"),
    "bool-value": ({"indices": [1, 2], "values": [0.5, False]}, "values"),
}


def sparse_requests(namespace: str, sparse: dict[str, Any]) -> list[tuple[str, Any]]:
    return [
        (f"upsert/{namespace}", [{"id": "bad", "vector": DENSE, "sparseVector": sparse}]),
        (f"query/{namespace}", {"sparseVector": sparse}),
        (f"query/{namespace}", [{"vector": DENSE}, {"sparseVector": sparse}]),
        (f"resumable-query/{namespace}", {"sparseVector": sparse}),
        (f"update/{namespace}", {"id": "a", "vector": DENSE, "sparseVector": sparse}),
    ]


@pytest.mark.parametrize("case", sorted(BAD_SPARSE))
def test_a_malformed_sparse_vector_is_refused_on_every_endpoint(
    hybrid_index: Index, post: Post, fresh_namespace: str, case: str
) -> None:
    sparse, part = BAD_SPARSE[case]
    hybrid_index.upsert(
        [Vector(id="a", vector=DENSE, sparse_vector=SparseVector([9], [1.0]))],
        namespace=fresh_namespace,
    )

    for path, body in sparse_requests(fresh_namespace, sparse):
        response = post(path, body)
        assert response.status_code == 400, (path, response.text)
        assert f"sparseVector {part}" in response.json()["error"], (path, response.text)

    [a] = hybrid_index.fetch("a", include_vectors=True, namespace=fresh_namespace)
    assert a is not None and a.sparse_vector == SparseVector([9], [1.0])
    assert hybrid_index.fetch("bad", namespace=fresh_namespace) == [None]


@pytest.mark.parametrize("case", sorted(BAD_DENSE))
@pytest.mark.parametrize("kind", ["dense-only", "hybrid"])
def test_a_malformed_dense_vector_is_refused_on_every_endpoint(
    vector_server: VectorServer,
    hybrid_server: VectorServer,
    post: Post,
    fresh_namespace: str,
    case: str,
    kind: str,
) -> None:
    server = hybrid_server if kind == "hybrid" else vector_server
    sparse = {"sparseVector": SPARSE} if kind == "hybrid" else {}
    vector = BAD_DENSE[case]
    assert post(
        f"upsert/{fresh_namespace}", {"id": "a", "vector": DENSE, **sparse}, server
    ).is_success

    for path, body in [
        (f"upsert/{fresh_namespace}", {"id": "bad", "vector": vector, **sparse}),
        (f"query/{fresh_namespace}", {"vector": vector}),
        (f"resumable-query/{fresh_namespace}", {"vector": vector}),
        (f"update/{fresh_namespace}", {"id": "a", "vector": vector, **sparse}),
    ]:
        response = post(path, body, server)
        assert response.status_code == 400, (path, response.text)
        assert "must be a list of numbers" in response.json()["error"], (path, response.text)

    fetched = post(
        f"fetch/{fresh_namespace}", {"ids": ["a", "bad"], "includeVectors": True}, server
    )
    a, bad = fetched.json()["result"]
    assert a["vector"] == DENSE and bad is None


def test_an_integer_literal_is_a_number_however_it_is_written(
    hybrid_index: Index, post: Post, fresh_namespace: str
) -> None:
    # 10**30 is valid JSON that a 32-bit float holds (about 1e30): a number, not a type error.
    response = post(
        f"upsert/{fresh_namespace}",
        {"id": "big", "vector": DENSE, "sparseVector": {"indices": [4], "values": [10**30]}},
    )

    assert response.status_code == 200, response.text
    [big] = hybrid_index.fetch("big", include_vectors=True, namespace=fresh_namespace)
    assert big is not None and big.sparse_vector == SparseVector([4], [1e30])


def test_a_value_beyond_a_32_bit_float_is_refused_naming_the_range(
    post: Post, fresh_namespace: str
) -> None:
    # Upstash stores 32-bit floats: 1e39 is valid JSON but would be stored as infinity.
    for body in [
        {"id": "a", "vector": DENSE, "sparseVector": {"indices": [1], "values": [1e39]}},
        {"id": "a", "vector": [1e39, *DENSE[1:]], "sparseVector": SPARSE},
    ]:
        response = post(f"upsert/{fresh_namespace}", body)

        assert response.status_code == 400, response.text
        assert "32-bit float" in response.json()["error"], response.text
