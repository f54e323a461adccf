"""An index without embedding model (``--embedder none``): raw vectors only, like an Upstash index
created without one."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from upstash_vector import Index
from upstash_vector.errors import UpstashError
from upstash_vector.types import Data

from ragfood_vector.launcher import VectorServer

NO_MODEL = (
    "Embedding data for this index is not allowed. "
    "The index must be created with an embedding model to use it."
)


@pytest.fixture(scope="module")
def raw_server() -> Iterator[VectorServer]:
    with VectorServer(embedder="none", dimension=8, sparse="none") as server:
        yield server


@pytest.fixture(scope="module")
def raw_index(raw_server: VectorServer) -> Index:
    return raw_server.index()


def test_upsert_data_is_refused_with_the_embedding_model_message(raw_index: Index) -> None:
    with pytest.raises(UpstashError) as caught:
        raw_index.upsert([Data(id="a", data="tomato soup")])

    assert str(caught.value) == NO_MODEL


def test_query_data_is_refused_with_the_embedding_model_message(raw_index: Index) -> None:
    with pytest.raises(UpstashError, match="must be created with an embedding model"):
        raw_index.query(data="tomato soup")


def test_a_resumable_query_by_data_is_refused_with_the_embedding_model_message(
    raw_index: Index,
) -> None:
    with pytest.raises(UpstashError) as caught:
        raw_index.resumable_query(data="tomato soup")

    assert str(caught.value) == NO_MODEL


def test_a_resumable_query_by_vector_works(raw_index: Index) -> None:
    raw_index.upsert([("r1", [1.0] + [0.0] * 7), ("r2", [0.0, 1.0] + [0.0] * 6)], namespace="rq")

    first, handle = raw_index.resumable_query(vector=[1.0] + [0.0] * 7, top_k=1, namespace="rq")
    with handle:
        assert [r.id for r in first + handle.fetch_next(5)] == ["r1", "r2"]


def test_raw_vectors_of_the_configured_dimension_work(raw_index: Index) -> None:
    raw_index.upsert([("v", [1.0] * 8, {"k": 1}, "stored text")])

    [result] = raw_index.query(vector=[1.0] * 8, include_data=True)

    assert (result.id, result.data) == ("v", "stored text")


def test_the_dimension_comes_from_the_option(raw_index: Index) -> None:
    with pytest.raises(UpstashError, match="Invalid vector dimension: 384, expected: 8"):
        raw_index.upsert([("v", [1.0] * 384)])


def test_info_reports_no_embedding_model(raw_index: Index) -> None:
    info = raw_index.info()

    assert info.dimension == 8
    assert info.dense_index is not None and info.dense_index.embedding_model == ""


def test_update_with_data_stores_the_text_without_embedding(raw_index: Index) -> None:
    raw_index.upsert([("u", [0.5] * 8)])

    raw_index.update("u", data="new text")

    [fetched] = raw_index.fetch("u", include_vectors=True, include_data=True)
    assert fetched is not None and (fetched.vector, fetched.data) == ([0.5] * 8, "new text")


@pytest.mark.parametrize("path", ["upsert-data", "query-data", "resumable-query-data"])
@pytest.mark.parametrize("sparse", ["none", "bm25"])
def test_text_on_an_index_without_model_is_answered_422_as_upstash_documents(
    raw_server: VectorServer, start_vector_server, post, path: str, sparse: str
) -> None:
    # Upstash's upsert-data and query-data references: "422 Unprocessable Entity" with this body.
    server = raw_server if sparse == "none" else start_vector_server(embedder="none", sparse=sparse)
    response = post(path, {"id": "a", "data": "tomato soup"}, server)

    assert response.status_code == 422
    assert response.json() == {"error": NO_MODEL, "status": 422}
