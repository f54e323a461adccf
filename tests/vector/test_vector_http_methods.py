"""The HTTP methods Upstash's REST reference gives its endpoints (raw HTTP: the SDK always POSTs).

Upstash documents ``DELETE`` for /delete, /reset and /delete-namespace, ``GET`` for /info, /fetch
and /range, ``POST`` for the rest; curl users copy those examples.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
import pytest
from upstash_vector import Index

from ragfood_vector.launcher import VectorServer

Vec = Callable[..., list[float]]


def call(server: VectorServer, method: str, path: str, body: Any = None) -> httpx.Response:
    return httpx.request(
        method,
        f"{server.url}{path}",
        json=body,
        headers={"Authorization": f"Bearer {server.token}"},
        timeout=30,
    )


def test_delete_vectors_with_the_delete_method(
    vector_server: VectorServer, index: Index, vec: Vec, fresh_namespace: str
) -> None:
    index.upsert([("a", vec(1)), ("b", vec(0, 1))], namespace=fresh_namespace)

    response = call(vector_server, "DELETE", f"/delete/{fresh_namespace}", ["a", "missing"])

    assert response.status_code == 200 and response.json() == {"result": {"deleted": 1}}
    assert index.fetch(["a", "b"], namespace=fresh_namespace)[0] is None


def test_reset_with_the_delete_method(
    vector_server: VectorServer, index: Index, vec: Vec, fresh_namespace: str
) -> None:
    index.upsert([("a", vec(1))], namespace=fresh_namespace)

    response = call(vector_server, "DELETE", f"/reset/{fresh_namespace}")

    assert response.json() == {"result": "Success"}
    assert index.range(limit=10, namespace=fresh_namespace).vectors == []


def test_delete_namespace_with_the_delete_method(
    vector_server: VectorServer, index: Index, vec: Vec, fresh_namespace: str
) -> None:
    index.upsert([("a", vec(1))], namespace=fresh_namespace)

    response = call(vector_server, "DELETE", f"/delete-namespace/{fresh_namespace}")

    assert response.json() == {"result": "Success"}
    assert fresh_namespace not in index.list_namespaces()


@pytest.mark.parametrize(
    ("path", "body"),
    [("/info", None), ("/fetch", {"ids": ["a"]}), ("/range", {"cursor": "0", "limit": 1})],
)
def test_reads_with_the_get_method(vector_server: VectorServer, path: str, body: Any) -> None:
    assert call(vector_server, "GET", path, body).status_code == 200


def test_the_read_only_token_cannot_delete_with_the_delete_method(
    vector_server: VectorServer,
) -> None:
    response = httpx.request(
        "DELETE",
        f"{vector_server.url}/reset",
        headers={"Authorization": f"Bearer {vector_server.readonly_token}"},
    )

    assert response.status_code == 403
