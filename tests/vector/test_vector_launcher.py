"""The launcher: a real subprocess on a free port, cleaned up completely on exit."""

from __future__ import annotations

from pathlib import Path

import httpx

from ragfood_vector.launcher import VectorServer


def test_leaving_the_context_stops_the_process_and_removes_the_temporary_data_dir() -> None:
    with VectorServer() as server:
        process = server.process
        data_dir = server.data_dir
        assert process is not None and data_dir.exists()

    assert process.poll() is not None
    assert not data_dir.exists()


def test_a_given_data_dir_is_kept_after_stop(tmp_path: Path) -> None:
    with VectorServer(data_dir=tmp_path / "kept"):
        pass

    assert (tmp_path / "kept" / "vectors.db").exists()


def test_health_answers_without_a_token(vector_server: VectorServer) -> None:
    response = httpx.get(f"{vector_server.url}/health")

    assert response.status_code == 200 and response.json() == {"status": "ok"}


def test_the_startup_line_names_url_embedder_dimension_and_data_dir_but_no_token(
    vector_server: VectorServer,
) -> None:
    first_line = vector_server.output().splitlines()[0]

    assert vector_server.url in first_line
    assert "embedder hash (ragfood/hash-384)" in first_line
    assert "dimension 384" in first_line
    assert str(vector_server.data_dir.resolve()) in first_line
    assert vector_server.token not in first_line and vector_server.readonly_token not in first_line


def test_the_launcher_starts_a_hybrid_index_by_default_and_dense_only_on_request() -> None:
    with VectorServer() as hybrid, VectorServer(sparse="none") as dense:
        assert hybrid.index().info().sparse_index is not None
        assert dense.index().info().sparse_index is None
        assert "hybrid index" in hybrid.output() and "dense index" in dense.output()
