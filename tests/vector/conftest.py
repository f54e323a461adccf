"""Fixtures of the vector service conformance suite: SDK clients of the session hash servers.

``index`` talks to the dense-only session server (tests/conftest.py), ``hybrid_index`` to a
hybrid (dense + BM25) one.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest
from upstash_vector import Index

from ragfood_vector.launcher import VectorServer

DIMENSION = 384


@pytest.fixture(scope="session")
def index(vector_server: VectorServer) -> Index:
    """The SDK with the read-write token."""
    return vector_server.index()


@pytest.fixture(scope="session")
def readonly_index(vector_server: VectorServer) -> Index:
    """The SDK with the read-only token."""
    return vector_server.index(readonly=True)


@pytest.fixture(scope="session")
def vec() -> Callable[..., list[float]]:
    """``vec(1, 2)`` -> a 384-dim vector starting with those values, zeros after."""

    def make(*head: float) -> list[float]:
        return [float(x) for x in head] + [0.0] * (DIMENSION - len(head))

    return make


@pytest.fixture(scope="session")
def hybrid_server() -> Iterator[VectorServer]:
    """A hybrid index: hash dense embedder + hosted-style BM25 sparse side."""
    with VectorServer(embedder="hash", sparse="bm25") as server:
        yield server


@pytest.fixture(scope="session")
def hybrid_index(hybrid_server: VectorServer) -> Index:
    return hybrid_server.index()


@pytest.fixture(scope="session")
def post(hybrid_server: VectorServer) -> Callable[..., httpx.Response]:
    """``post(path, body, server=hybrid_server)``: a raw JSON request, for what the SDK cannot
    express (batch queries with their own queryMode: 0.8's query_many drops it)."""

    def send(path: str, body: Any, server: VectorServer = hybrid_server) -> httpx.Response:
        return httpx.post(
            f"{server.url}/{path}",
            json=body,
            headers={"Authorization": f"Bearer {server.token}"},
            timeout=30,
        )

    return send
