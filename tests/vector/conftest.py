"""Fixtures of the vector service conformance suite: SDK clients of the session hash server."""

from __future__ import annotations

from collections.abc import Callable

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
