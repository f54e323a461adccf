"""Bearer tokens: the read-write token, the read-only token, and everything else."""

from __future__ import annotations

from collections.abc import Callable

import httpx
import pytest
from upstash_vector import Index
from upstash_vector.errors import UpstashError

from ragfood_vector.launcher import VectorServer

Vec = Callable[..., list[float]]


def test_a_request_without_token_is_unauthorized(vector_server: VectorServer) -> None:
    response = httpx.post(f"{vector_server.url}/info")

    assert response.status_code == 401
    assert response.json() == {"error": "Unauthorized: Invalid auth token", "status": 401}


def test_a_wrong_token_is_unauthorized(vector_server: VectorServer) -> None:
    with pytest.raises(UpstashError, match="Unauthorized"):
        Index(vector_server.url, "not-the-token").info()


def test_the_read_only_token_can_query(
    index: Index, readonly_index: Index, fresh_namespace: str, vec: Vec
) -> None:
    index.upsert([("a", vec(1), {"m": 1})], namespace=fresh_namespace)

    assert [r.id for r in readonly_index.query(vector=vec(1), namespace=fresh_namespace)] == ["a"]
    assert [r.id for r in readonly_index.query(data="a", namespace=fresh_namespace)] == ["a"]


def test_the_read_only_token_can_fetch_range_and_describe(
    index: Index, readonly_index: Index, fresh_namespace: str, vec: Vec
) -> None:
    index.upsert([("a", vec(1))], namespace=fresh_namespace)

    assert readonly_index.fetch("a", namespace=fresh_namespace)[0] is not None
    assert [v.id for v in readonly_index.range(limit=5, namespace=fresh_namespace).vectors] == ["a"]
    assert readonly_index.info().namespaces[fresh_namespace].vector_count == 1
    assert fresh_namespace in readonly_index.list_namespaces()


def test_the_read_only_token_cannot_upsert(
    readonly_index: Index, fresh_namespace: str, vec: Vec
) -> None:
    with pytest.raises(UpstashError, match="read-only token is not allowed to perform 'upsert'"):
        readonly_index.upsert([("a", vec(1))], namespace=fresh_namespace)


@pytest.mark.parametrize(
    ("operation", "call"),
    [
        ("upsert-data", lambda ix, ns: ix.upsert([("a", "text")], namespace=ns)),
        ("update", lambda ix, ns: ix.update("a", metadata={"x": 1}, namespace=ns)),
        ("delete", lambda ix, ns: ix.delete("a", namespace=ns)),
        ("reset", lambda ix, ns: ix.reset(namespace=ns)),
        ("delete-namespace", lambda ix, ns: ix.delete_namespace(ns)),
    ],
)
def test_the_read_only_token_cannot_write(
    readonly_index: Index,
    fresh_namespace: str,
    operation: str,
    call: Callable[[Index, str], object],
) -> None:
    with pytest.raises(UpstashError, match=f"not allowed to perform '{operation}'"):
        call(readonly_index, fresh_namespace)


def test_a_read_only_write_is_answered_403(vector_server: VectorServer, vec: Vec) -> None:
    response = httpx.post(
        f"{vector_server.url}/upsert",
        json={"id": "a", "vector": vec(1)},
        headers={"Authorization": f"Bearer {vector_server.readonly_token}"},
    )

    assert response.status_code == 403 and response.json()["status"] == 403
