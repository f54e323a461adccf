"""Update: a new vector, new data (re-embedded), metadata overwrite and RFC 7396 merge patch."""

from __future__ import annotations

from collections.abc import Callable

from upstash_vector import Index
from upstash_vector.types import MetadataUpdateMode

Vec = Callable[..., list[float]]


def test_update_vector_changes_query_scores(index: Index, fresh_namespace: str, vec: Vec) -> None:
    index.upsert([("a", vec(1)), ("b", vec(0, 1))], namespace=fresh_namespace)

    assert index.update("a", vector=vec(0, 1), namespace=fresh_namespace) is True

    scores = {
        r.id: r.score for r in index.query(vector=vec(0, 1), top_k=2, namespace=fresh_namespace)
    }
    assert abs(scores["a"] - 1.0) < 1e-6


def test_update_data_re_embeds_the_text(index: Index, fresh_namespace: str) -> None:
    index.upsert(
        [("dish", "vanilla ice cream"), ("other", "grilled salmon fillet")],
        namespace=fresh_namespace,
    )

    index.update("dish", data="beef brisket barbecue", namespace=fresh_namespace)

    [best] = index.query(
        data="barbecue brisket", top_k=1, include_data=True, namespace=fresh_namespace
    )
    assert (best.id, best.data) == ("dish", "beef brisket barbecue")


def test_update_metadata_overwrites_it_by_default(
    index: Index, fresh_namespace: str, vec: Vec
) -> None:
    index.upsert([("a", vec(1), {"keep": 1, "change": 2})], namespace=fresh_namespace)

    index.update("a", metadata={"change": 3}, namespace=fresh_namespace)

    [fetched] = index.fetch("a", include_metadata=True, namespace=fresh_namespace)
    assert fetched is not None and fetched.metadata == {"change": 3}


def test_update_metadata_patch_merges_and_null_removes(
    index: Index, fresh_namespace: str, vec: Vec
) -> None:
    index.upsert(
        [("a", vec(1), {"keep": 1, "drop": 2, "nested": {"x": 1, "y": 2}})],
        namespace=fresh_namespace,
    )

    index.update(
        "a",
        metadata={"drop": None, "nested": {"y": None, "z": 3}, "added": True},
        metadata_update_mode=MetadataUpdateMode.PATCH,
        namespace=fresh_namespace,
    )

    [fetched] = index.fetch("a", include_metadata=True, namespace=fresh_namespace)
    assert fetched is not None
    assert fetched.metadata == {"keep": 1, "nested": {"x": 1, "z": 3}, "added": True}


def test_update_keeps_the_fields_it_does_not_mention(
    index: Index, fresh_namespace: str, vec: Vec
) -> None:
    index.upsert([("a", vec(1), {"m": 1}, "data")], namespace=fresh_namespace)

    index.update("a", vector=vec(0, 1), namespace=fresh_namespace)

    [fetched] = index.fetch(
        "a", include_metadata=True, include_data=True, namespace=fresh_namespace
    )
    assert fetched is not None and (fetched.metadata, fetched.data) == ({"m": 1}, "data")


def test_updated_metadata_is_seen_by_filters(index: Index, fresh_namespace: str, vec: Vec) -> None:
    index.upsert([("a", vec(1), {"stock": 0})], namespace=fresh_namespace)
    assert index.query(vector=vec(1), filter="stock > 0", namespace=fresh_namespace) == []

    index.update("a", metadata={"stock": 5}, namespace=fresh_namespace)

    assert [
        r.id for r in index.query(vector=vec(1), filter="stock > 0", namespace=fresh_namespace)
    ] == ["a"]


def test_update_of_a_missing_id_reports_false(index: Index, fresh_namespace: str, vec: Vec) -> None:
    assert index.update("missing", vector=vec(1), namespace=fresh_namespace) is False
