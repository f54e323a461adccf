"""Delete by ids, by id prefix and by metadata filter."""

from __future__ import annotations

from collections.abc import Callable

from upstash_vector import Index

Vec = Callable[..., list[float]]


def ids_in(index: Index, namespace: str) -> list[str]:
    return [v.id for v in index.range(limit=1000, namespace=namespace).vectors]


def test_delete_by_ids_counts_only_existing_vectors(
    index: Index, fresh_namespace: str, vec: Vec
) -> None:
    index.upsert([("a", vec(1)), ("b", vec(1)), ("c", vec(1))], namespace=fresh_namespace)

    result = index.delete(["a", "c", "missing"], namespace=fresh_namespace)

    assert result.deleted == 2
    assert ids_in(index, fresh_namespace) == ["b"]


def test_delete_a_single_id(index: Index, fresh_namespace: str, vec: Vec) -> None:
    index.upsert([("a", vec(1)), ("b", vec(1))], namespace=fresh_namespace)

    assert index.delete("a", namespace=fresh_namespace).deleted == 1
    assert ids_in(index, fresh_namespace) == ["b"]


def test_delete_by_prefix(index: Index, fresh_namespace: str, vec: Vec) -> None:
    index.upsert(
        [("doc-1#0", vec(1)), ("doc-1#1", vec(1)), ("doc-10#0", vec(1)), ("doc-2#0", vec(1))],
        namespace=fresh_namespace,
    )

    assert index.delete(prefix="doc-1#", namespace=fresh_namespace).deleted == 2
    assert ids_in(index, fresh_namespace) == ["doc-10#0", "doc-2#0"]


def test_delete_by_filter(index: Index, fresh_namespace: str, vec: Vec) -> None:
    index.upsert(
        [
            ("a", vec(1), {"source": "old", "year": 2019}),
            ("b", vec(1), {"source": "new", "year": 2024}),
            ("c", vec(1), {"source": "old", "year": 2023}),
            ("d", vec(1)),
        ],
        namespace=fresh_namespace,
    )

    result = index.delete(filter="source = 'old' AND year < 2020", namespace=fresh_namespace)

    assert result.deleted == 1
    assert ids_in(index, fresh_namespace) == ["b", "c", "d"]


def test_deleted_vectors_are_no_longer_found_by_query(
    index: Index, fresh_namespace: str, vec: Vec
) -> None:
    index.upsert([("a", vec(1)), ("b", vec(0.9, 0.1))], namespace=fresh_namespace)
    index.query(vector=vec(1), namespace=fresh_namespace)  # builds the search cache first

    index.delete("a", namespace=fresh_namespace)

    assert [r.id for r in index.query(vector=vec(1), namespace=fresh_namespace)] == ["b"]


def test_deleting_an_empty_list_of_ids_deletes_nothing(
    index: Index, fresh_namespace: str, vec: Vec
) -> None:
    index.upsert([("a", vec(1))], namespace=fresh_namespace)

    assert index.delete([], namespace=fresh_namespace).deleted == 0
    assert ids_in(index, fresh_namespace) == ["a"]
