"""Upstash's documented limits and malformed requests: each answered 400 with a clear message."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
import pytest
from upstash_vector import Index
from upstash_vector.errors import UpstashError
from upstash_vector.types import Data

from ragfood_vector.launcher import VectorServer

Vec = Callable[..., list[float]]


def post(
    server: VectorServer, path: str, body: Any = None, *, content: bytes | None = None
) -> httpx.Response:
    headers = {"Authorization": f"Bearer {server.token}"}
    if content is not None:
        return httpx.post(f"{server.url}{path}", content=content, headers=headers)
    return httpx.post(f"{server.url}{path}", json=body, headers=headers)


def test_more_than_1000_vectors_in_one_upsert_are_refused(
    index: Index, fresh_namespace: str, vec: Vec
) -> None:
    with pytest.raises(UpstashError, match="1001, the maximum is 1000"):
        index.upsert([(f"v{i}", vec(1)) for i in range(1001)], namespace=fresh_namespace)

    assert index.range(limit=1, namespace=fresh_namespace).vectors == []


def test_1000_vectors_in_one_upsert_are_accepted(
    index: Index, fresh_namespace: str, vec: Vec
) -> None:
    index.upsert([(f"v{i}", vec(1)) for i in range(1000)], namespace=fresh_namespace)

    assert index.info().namespaces[fresh_namespace].vector_count == 1000


def test_more_than_1000_data_items_in_one_upsert_are_refused(
    index: Index, fresh_namespace: str
) -> None:
    with pytest.raises(UpstashError, match="the maximum is 1000"):
        index.upsert([Data(id=f"d{i}", data="x") for i in range(1001)], namespace=fresh_namespace)


@pytest.mark.parametrize("top_k", [0, 1001])
def test_top_k_outside_1_to_1000_is_refused(index: Index, vec: Vec, top_k: int) -> None:
    with pytest.raises(UpstashError, match=f"topK must be between 1 and 1000, got {top_k}"):
        index.query(vector=vec(1), top_k=top_k)


def test_metadata_over_48_kb_is_refused(index: Index, fresh_namespace: str, vec: Vec) -> None:
    with pytest.raises(UpstashError, match="metadata of vector 'big' is too large"):
        index.upsert([("big", vec(1), {"text": "x" * (48 * 1024)})], namespace=fresh_namespace)


def test_metadata_just_under_48_kb_is_accepted(
    index: Index, fresh_namespace: str, vec: Vec
) -> None:
    # {"text":"..."} adds 11 bytes of JSON around the string.
    index.upsert([("ok", vec(1), {"text": "x" * (48 * 1024 - 11)})], namespace=fresh_namespace)

    assert index.fetch("ok", namespace=fresh_namespace)[0] is not None


def test_a_metadata_patch_growing_over_48_kb_is_refused(
    index: Index, fresh_namespace: str, vec: Vec
) -> None:
    from upstash_vector.types import MetadataUpdateMode

    index.upsert([("m", vec(1), {"a": "x" * 30_000})], namespace=fresh_namespace)

    with pytest.raises(UpstashError, match="too large"):
        index.update(
            "m",
            metadata={"b": "y" * 30_000},
            metadata_update_mode=MetadataUpdateMode.PATCH,
            namespace=fresh_namespace,
        )


def test_data_over_1_mb_is_refused(index: Index, fresh_namespace: str, vec: Vec) -> None:
    with pytest.raises(UpstashError, match="data of vector 'big' is too large"):
        index.upsert([("big", vec(1), None, "x" * (1024 * 1024 + 1))], namespace=fresh_namespace)


def test_an_empty_id_is_refused(index: Index, fresh_namespace: str, vec: Vec) -> None:
    with pytest.raises(UpstashError, match="must not be empty"):
        index.upsert([("", vec(1))], namespace=fresh_namespace)


def test_a_vector_of_the_wrong_dimension_is_refused_naming_both_dimensions(
    index: Index, fresh_namespace: str
) -> None:
    with pytest.raises(UpstashError, match=r"^Invalid vector dimension: 2, expected: 384$"):
        index.upsert([("short", [0.1, 0.2])], namespace=fresh_namespace)


def test_a_query_vector_of_the_wrong_dimension_is_refused(index: Index) -> None:
    with pytest.raises(UpstashError, match="Invalid vector dimension: 3, expected: 384"):
        index.query(vector=[1.0, 2.0, 3.0])


def test_one_bad_vector_rejects_the_whole_batch(
    index: Index, fresh_namespace: str, vec: Vec
) -> None:
    with pytest.raises(UpstashError):
        index.upsert([("good", vec(1)), ("bad", [1.0])], namespace=fresh_namespace)

    assert index.fetch("good", namespace=fresh_namespace) == [None]


def test_a_malformed_filter_is_refused_naming_the_problem(index: Index, vec: Vec) -> None:
    with pytest.raises(UpstashError, match=r"Invalid filter: unclosed '\(' from position 0"):
        index.query(vector=vec(1), filter="(price < 10")


def test_a_malformed_json_body_is_answered_400(vector_server: VectorServer) -> None:
    response = post(vector_server, "/upsert", content=b'{"id": "a", "vector": [1,')

    assert response.status_code == 400
    assert response.json()["error"].startswith("Malformed JSON body")


def test_fetching_more_than_1000_ids_is_refused(index: Index) -> None:
    with pytest.raises(UpstashError, match="Too many ids"):
        index.fetch([str(i) for i in range(1001)])


def test_sparse_vectors_are_refused_by_this_dense_index(
    index: Index, fresh_namespace: str, vec: Vec
) -> None:
    with pytest.raises(UpstashError, match="Sparse vectors are not supported"):
        index.upsert([("s", vec(1), ([1, 2], [0.5, 0.5]))], namespace=fresh_namespace)


def test_non_numeric_vector_values_are_refused(vector_server: VectorServer) -> None:
    response = post(vector_server, "/upsert", {"id": "a", "vector": ["x"] * 384})

    assert response.status_code == 400 and "list of numbers" in response.json()["error"]


def test_an_unknown_endpoint_is_answered_404_in_json(vector_server: VectorServer) -> None:
    response = post(vector_server, "/no-such-endpoint")

    assert response.status_code == 404 and response.json()["status"] == 404


def test_errors_carry_their_http_status_in_the_body(vector_server: VectorServer) -> None:
    response = post(vector_server, "/query", {"vector": [1.0], "topK": 1})

    # Upstash's upsert reference: "422 Unsuccessful" {"error": "Invalid vector dimension: 2,
    # expected: 256", "status": 422}.
    assert response.status_code == 422
    assert response.json() == {"error": "Invalid vector dimension: 1, expected: 384", "status": 422}


def test_nan_in_a_body_is_refused_as_malformed_json(vector_server: VectorServer) -> None:
    body = b'{"id": "a", "vector": [1.0], "metadata": {"x": NaN}}'

    response = post(vector_server, "/upsert", content=body)

    assert response.status_code == 400 and "NaN is not valid JSON" in response.json()["error"]


def test_a_number_too_large_for_a_double_is_refused_as_malformed_json(
    vector_server: VectorServer, index: Index, fresh_namespace: str
) -> None:
    # 1e400 is valid JSON text but no double holds it: stored as infinity, it could never be
    # answered back (fetch would fail), so it is refused at the door like NaN.
    body = b'{"id": "big", "vector": [' + b"0.5," * 383 + b'0.5], "metadata": {"x": 1e400}}'

    response = post(vector_server, f"/upsert/{fresh_namespace}", content=body)

    assert response.status_code == 400 and "1e400" in response.json()["error"]
    assert index.fetch("big", include_metadata=True, namespace=fresh_namespace) == [None]
