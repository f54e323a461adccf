"""Durability: SQLite in the data dir survives restarts and crashes; a data dir refuses a service
configured for another dimension."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from ragfood_vector.launcher import VectorServer, VectorServerError

Vec = Callable[..., list[float]]
StartServer = Callable[..., VectorServer]


def test_vectors_survive_a_restart(
    start_vector_server: StartServer, tmp_path: Path, vec: Vec
) -> None:
    server = start_vector_server(data_dir=tmp_path / "data")
    server.index().upsert([("a", vec(1), {"m": 1}, "kept")], namespace="ns")

    server.restart()

    index = server.index()
    [fetched] = index.fetch("a", include_metadata=True, include_data=True, namespace="ns")
    assert fetched is not None and (fetched.metadata, fetched.data) == ({"m": 1}, "kept")
    assert [r.id for r in index.query(vector=vec(1), namespace="ns")] == ["a"]
    assert "ns" in index.list_namespaces()


def test_restart_keeps_the_url(start_vector_server: StartServer) -> None:
    server = start_vector_server()
    url = server.url

    server.restart()

    assert server.url == url and server.index().info().dimension == 384


def test_acknowledged_writes_survive_a_crash(start_vector_server: StartServer, vec: Vec) -> None:
    server = start_vector_server()
    server.index().upsert([(f"v{i}", vec(1, i)) for i in range(100)])

    server.kill()
    server.start()

    assert server.index().info().vector_count == 100


def test_a_data_dir_refuses_a_service_of_another_dimension(
    start_vector_server: StartServer, tmp_path: Path
) -> None:
    start_vector_server(data_dir=tmp_path, embedder="none", dimension=8).stop()

    with pytest.raises(VectorServerError) as caught:
        start_vector_server(data_dir=tmp_path, embedder="none", dimension=16)

    message = str(caught.value)
    assert "holds 8-dimensional vectors" in message and "dimension 16" in message
