"""The sparse side through deletes, resets, namespaces and restarts: nothing deleted still matches,
IDF statistics are per namespace and follow every write, and everything survives a restart."""

from __future__ import annotations

import math
import sqlite3
from collections.abc import Callable
from pathlib import Path

import pytest
from upstash_vector import Index
from upstash_vector.types import Data, QueryMode, WeightingStrategy

from ragfood_vector.embedders import HashEmbedder
from ragfood_vector.launcher import VectorServer

StartServer = Callable[..., VectorServer]

SOUPS = {
    "miso": "Miso soup with tofu and seaweed.",
    "pho": "Pho is a beef noodle soup with herbs.",
    "borscht": "Borscht is a beet soup served with sour cream.",
    "paella": "Paella: saffron rice with seafood.",
}


def sparse(index: Index, namespace: str, text: str, idf: bool = False) -> dict[str, float]:
    options = {"weighting_strategy": WeightingStrategy.IDF} if idf else {}
    results = index.query(
        data=text, query_mode=QueryMode.SPARSE, top_k=100, namespace=namespace, **options
    )
    return {r.id: r.score for r in results}


def load(index: Index, namespace: str, items: dict[str, str] = SOUPS) -> None:
    index.upsert(
        [Data(id=k, data=v, metadata={"first": k[0]}) for k, v in items.items()],
        namespace=namespace,
    )


def fill_data_dir(start: StartServer, data_dir: Path, sparse_side: str) -> None:
    """SOUPS in namespace "ns" of `data_dir`, written by a service run with `sparse_side`."""
    writer = start(sparse=sparse_side, embedder="hash", data_dir=data_dir)
    load(writer.index(), "ns")
    writer.stop()


def idf(documents: int, containing: int) -> float:
    return math.log((documents - containing + 0.5) / (containing + 0.5) + 1)


@pytest.mark.parametrize(
    "delete",
    [
        lambda index, ns: index.delete(ids=["pho"], namespace=ns),
        lambda index, ns: index.delete(prefix="ph", namespace=ns),
        lambda index, ns: index.delete(filter="first = 'p' AND first != 'x'", namespace=ns),
    ],
    ids=["ids", "prefix", "filter"],
)
def test_deleted_vectors_leave_the_sparse_side_and_its_statistics(
    hybrid_index: Index, fresh_namespace: str, delete
) -> None:
    load(hybrid_index, fresh_namespace, {k: SOUPS[k] for k in ("miso", "pho", "borscht")})
    before = sparse(hybrid_index, fresh_namespace, "soup", idf=True)
    assert set(before) == {"miso", "pho", "borscht"}

    delete(hybrid_index, fresh_namespace)

    after = sparse(hybrid_index, fresh_namespace, "soup", idf=True)
    assert set(after) == {"miso", "borscht"}
    # N went from 3 to 2 with "soup" in every document: the IDF weight follows.
    ratio = idf(2, 2) / idf(3, 3)
    assert after["miso"] == pytest.approx(before["miso"] * ratio, rel=1e-5)


def test_reset_empties_the_sparse_side(hybrid_index: Index, fresh_namespace: str) -> None:
    load(hybrid_index, fresh_namespace)

    hybrid_index.reset(namespace=fresh_namespace)

    assert sparse(hybrid_index, fresh_namespace, "soup rice") == {}
    load(hybrid_index, fresh_namespace, {"paella": SOUPS["paella"]})
    assert set(sparse(hybrid_index, fresh_namespace, "soup rice")) == {"paella"}


def test_reset_all_empties_every_sparse_side(start_vector_server: StartServer) -> None:
    index = start_vector_server(sparse="bm25", embedder="hash").index()
    load(index, "one")
    load(index, "two")

    index.reset(all=True)

    assert sparse(index, "one", "soup") == {} and sparse(index, "two", "soup") == {}


def test_idf_statistics_are_kept_per_namespace(hybrid_index: Index, fresh_namespace: str) -> None:
    small, large = f"{fresh_namespace}-small", f"{fresh_namespace}-large"
    load(hybrid_index, small, {"miso": SOUPS["miso"], "paella": SOUPS["paella"]})
    load(hybrid_index, large)

    in_small = sparse(hybrid_index, small, "soup", idf=True)["miso"]
    in_large = sparse(hybrid_index, large, "soup", idf=True)["miso"]

    # Same document, same term: only N and n differ (2 documents, 1 with "soup"; 4 with 3).
    assert in_small / in_large == pytest.approx(idf(2, 1) / idf(4, 3), rel=1e-5)


def test_a_deleted_namespace_takes_its_sparse_side_along(
    hybrid_index: Index, fresh_namespace: str
) -> None:
    load(hybrid_index, fresh_namespace)

    hybrid_index.delete_namespace(fresh_namespace)

    assert sparse(hybrid_index, fresh_namespace, "soup") == {}


def test_the_sparse_side_survives_a_restart_and_a_crash(
    start_vector_server: StartServer, tmp_path: Path
) -> None:
    server = start_vector_server(sparse="bm25", embedder="hash", data_dir=tmp_path)
    load(server.index(), "ns")
    expected = sparse(server.index(), "ns", "beef soup", idf=True)
    hybrid_before = server.index().query(data="beef soup", namespace="ns")

    server.restart()
    assert sparse(server.index(), "ns", "beef soup", idf=True) == expected

    server.kill()
    server.start()
    assert sparse(server.index(), "ns", "beef soup", idf=True) == expected
    assert server.index().query(data="beef soup", namespace="ns") == hybrid_before


def test_a_data_dir_filled_by_a_dense_only_service_is_served_as_hybrid(
    start_vector_server: StartServer, tmp_path: Path
) -> None:
    fill_data_dir(start_vector_server, tmp_path, "none")

    hybrid = start_vector_server(sparse="bm25", embedder="hash", data_dir=tmp_path)

    assert set(sparse(hybrid.index(), "ns", "saffron beet")) == {"paella", "borscht"}
    assert "BM25 sparse vectors" in hybrid.output()


def test_a_hybrid_data_dir_can_be_served_dense_only(
    start_vector_server: StartServer, tmp_path: Path
) -> None:
    fill_data_dir(start_vector_server, tmp_path, "bm25")

    dense = start_vector_server(sparse="none", embedder="hash", data_dir=tmp_path)

    assert dense.index().info().sparse_index is None
    assert len(dense.index().query(data="soup", top_k=10, namespace="ns")) == 4


def test_data_changed_while_served_dense_only_is_what_the_sparse_side_matches_again(
    start_vector_server: StartServer, tmp_path: Path
) -> None:
    fill_data_dir(start_vector_server, tmp_path, "bm25")
    dense = start_vector_server(sparse="none", embedder="hash", data_dir=tmp_path)
    assert dense.index().update("pho", data="Ramen: wheat noodles in pork broth.", namespace="ns")
    dense.stop()

    hybrid = start_vector_server(sparse="bm25", embedder="hash", data_dir=tmp_path)

    # The old words are gone with the old text; the new ones match.
    assert sparse(hybrid.index(), "ns", "beef herbs") == {}
    assert set(sparse(hybrid.index(), "ns", "ramen pork")) == {"pho"}


def test_a_data_dir_from_before_hybrid_indexes_is_upgraded_in_place(
    start_vector_server: StartServer, tmp_path: Path
) -> None:
    # The schema the service wrote before sparse vectors existed (no sparse columns).
    with sqlite3.connect(tmp_path / "vectors.db") as db:
        db.executescript(
            """
            CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
            CREATE TABLE namespaces (name TEXT PRIMARY KEY);
            CREATE TABLE vectors (namespace TEXT NOT NULL, id TEXT NOT NULL,
                vector BLOB NOT NULL, metadata TEXT, data TEXT, PRIMARY KEY (namespace, id));
            INSERT INTO meta VALUES ('schema_version', '1'), ('dimension', '384'),
                ('embedder', 'hash'), ('embedding_model', 'ragfood/hash-384');
            INSERT INTO namespaces VALUES (''), ('ns');
            """
        )
        vector = HashEmbedder(384).embed_one(SOUPS["pho"]).tobytes()
        db.execute("INSERT INTO vectors VALUES ('ns', 'pho', ?, NULL, ?)", (vector, SOUPS["pho"]))

    server = start_vector_server(sparse="bm25", embedder="hash", data_dir=tmp_path)

    assert set(sparse(server.index(), "ns", "beef noodles")) == {"pho"}
    [fetched] = server.index().fetch("pho", include_vectors=True, namespace="ns")
    assert fetched is not None and fetched.vector is not None and fetched.sparse_vector is not None
