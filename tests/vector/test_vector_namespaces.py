"""Namespaces (isolation, listing, deletion), reset and info."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from upstash_vector import Index
from upstash_vector.errors import UpstashError

from ragfood_vector.launcher import VectorServer

Vec = Callable[..., list[float]]


def test_the_same_id_in_two_namespaces_is_two_vectors(
    index: Index, fresh_namespace: str, vec: Vec
) -> None:
    other = fresh_namespace + "-other"
    index.upsert([("dish", vec(1), {"ns": "first"})], namespace=fresh_namespace)
    index.upsert([("dish", vec(0, 1), {"ns": "second"})], namespace=other)

    [first] = index.fetch("dish", include_metadata=True, namespace=fresh_namespace)
    [second] = index.fetch("dish", include_metadata=True, namespace=other)

    assert first is not None and first.metadata == {"ns": "first"}
    assert second is not None and second.metadata == {"ns": "second"}


def test_queries_only_see_their_own_namespace(index: Index, fresh_namespace: str, vec: Vec) -> None:
    index.upsert([("mine", vec(0, 1))], namespace=fresh_namespace)
    index.upsert([("theirs", vec(1))], namespace=fresh_namespace + "-other")

    results = index.query(vector=vec(1), top_k=10, namespace=fresh_namespace)

    assert [r.id for r in results] == ["mine"]


def test_namespace_names_may_contain_spaces_and_non_ascii_letters(
    index: Index, fresh_namespace: str, vec: Vec
) -> None:
    namespace = f"{fresh_namespace} crème brûlée"
    index.upsert([("a", vec(1))], namespace=namespace)

    assert namespace in index.list_namespaces()
    assert [r.id for r in index.query(vector=vec(1), namespace=namespace)] == ["a"]


def test_list_namespaces_includes_the_default_and_created_ones(
    index: Index, fresh_namespace: str, vec: Vec
) -> None:
    index.upsert([("a", vec(1))], namespace=fresh_namespace)

    names = index.list_namespaces()

    assert "" in names and fresh_namespace in names


def test_delete_namespace_removes_it_and_its_vectors(
    index: Index, fresh_namespace: str, vec: Vec
) -> None:
    index.upsert([("a", vec(1))], namespace=fresh_namespace)

    index.delete_namespace(fresh_namespace)

    assert fresh_namespace not in index.list_namespaces()
    assert index.fetch("a", namespace=fresh_namespace) == [None]


def test_deleting_a_missing_namespace_is_an_error(index: Index, fresh_namespace: str) -> None:
    with pytest.raises(UpstashError, match="does not exist"):
        index.delete_namespace(fresh_namespace)


def test_the_default_namespace_cannot_be_deleted(index: Index) -> None:
    with pytest.raises(UpstashError, match="default namespace cannot be deleted"):
        index.delete_namespace("")


def test_reset_empties_only_the_given_namespace(
    index: Index, fresh_namespace: str, vec: Vec
) -> None:
    other = fresh_namespace + "-other"
    index.upsert([("a", vec(1))], namespace=fresh_namespace)
    index.upsert([("b", vec(1))], namespace=other)

    assert index.reset(namespace=fresh_namespace) == "Success"

    assert index.info().namespaces[fresh_namespace].vector_count == 0
    assert index.fetch("b", namespace=other)[0] is not None


def test_reset_all_empties_every_namespace(
    start_vector_server: Callable[..., VectorServer], vec: Vec
) -> None:
    index = start_vector_server().index()
    index.upsert([("a", vec(1))])
    index.upsert([("b", vec(1))], namespace="ns")

    index.reset(all=True)

    assert index.info().vector_count == 0
    assert index.fetch("a") == [None] and index.fetch("b", namespace="ns") == [None]


def test_info_reports_counts_per_namespace_and_in_total(
    index: Index, fresh_namespace: str, vec: Vec
) -> None:
    index.upsert([("a", vec(1)), ("b", vec(1)), ("c", vec(1))], namespace=fresh_namespace)

    info = index.info()

    assert info.namespaces[fresh_namespace].vector_count == 3
    assert info.namespaces[fresh_namespace].pending_vector_count == 0
    assert info.vector_count == sum(ns.vector_count for ns in info.namespaces.values())
    assert info.pending_vector_count == 0
    assert info.index_size > 0


def test_info_describes_the_dense_index(index: Index) -> None:
    info = index.info()

    assert (info.dimension, info.similarity_function) == (384, "COSINE")
    assert info.dense_index is not None
    assert info.dense_index.dimension == 384
    assert info.dense_index.similarity_function == "COSINE"
    assert info.dense_index.embedding_model == "ragfood/hash-384"
