"""Range: paging through a namespace in id order with an opaque cursor."""

from __future__ import annotations

from collections.abc import Callable

from upstash_vector import Index

Vec = Callable[..., list[float]]


def test_range_pages_through_all_vectors_in_id_order(
    index: Index, fresh_namespace: str, vec: Vec
) -> None:
    ids = [f"item-{i:02d}" for i in range(23)]
    index.upsert([(i, vec(1)) for i in reversed(ids)], namespace=fresh_namespace)

    seen: list[str] = []
    cursor = ""
    pages = 0
    while True:
        page = index.range(cursor=cursor, limit=5, namespace=fresh_namespace)
        seen.extend(v.id for v in page.vectors)
        pages += 1
        if page.next_cursor == "":
            break
        cursor = page.next_cursor

    assert seen == ids
    assert pages == 5


def test_range_returns_an_empty_cursor_on_the_last_page(
    index: Index, fresh_namespace: str, vec: Vec
) -> None:
    index.upsert([("a", vec(1)), ("b", vec(1))], namespace=fresh_namespace)

    page = index.range(limit=2, namespace=fresh_namespace)

    assert page.next_cursor == "" and [v.id for v in page.vectors] == ["a", "b"]


def test_range_accepts_zero_as_the_starting_cursor(
    index: Index, fresh_namespace: str, vec: Vec
) -> None:
    index.upsert([("a", vec(1))], namespace=fresh_namespace)

    assert [v.id for v in index.range(cursor="0", limit=5, namespace=fresh_namespace).vectors] == [
        "a"
    ]


def test_range_with_prefix_returns_only_matching_ids(
    index: Index, fresh_namespace: str, vec: Vec
) -> None:
    index.upsert(
        [("recipe-1", vec(1)), ("recipe-2", vec(1)), ("review-1", vec(1)), ("recipe-3", vec(1))],
        namespace=fresh_namespace,
    )

    first = index.range(limit=2, prefix="recipe-", namespace=fresh_namespace)
    second = index.range(
        cursor=first.next_cursor, limit=2, prefix="recipe-", namespace=fresh_namespace
    )

    assert [v.id for v in first.vectors + second.vectors] == ["recipe-1", "recipe-2", "recipe-3"]
    assert second.next_cursor == ""


def test_range_include_flags_add_vector_metadata_and_data(
    index: Index, fresh_namespace: str, vec: Vec
) -> None:
    index.upsert([("a", vec(1), {"m": 1}, "text")], namespace=fresh_namespace)

    [item] = index.range(
        limit=1,
        include_vectors=True,
        include_metadata=True,
        include_data=True,
        namespace=fresh_namespace,
    ).vectors

    assert (item.vector, item.metadata, item.data) == (vec(1), {"m": 1}, "text")
