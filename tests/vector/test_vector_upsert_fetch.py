"""Upsert in every form the SDK accepts, and fetch (by ids, by prefix, include flags)."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from upstash_vector import Index, Vector
from upstash_vector.types import Data

Vec = Callable[..., list[float]]


def test_upsert_tuples_store_vector_metadata_and_data(
    index: Index, fresh_namespace: str, vec: Vec
) -> None:
    index.upsert([("a", vec(1, 2), {"kind": "soup"}, "tomato soup")], namespace=fresh_namespace)

    [fetched] = index.fetch(
        "a",
        include_vectors=True,
        include_metadata=True,
        include_data=True,
        namespace=fresh_namespace,
    )

    assert fetched is not None
    assert fetched.vector == vec(1, 2)
    assert fetched.metadata == {"kind": "soup"}
    assert fetched.data == "tomato soup"


def test_upsert_dicts(index: Index, fresh_namespace: str, vec: Vec) -> None:
    index.upsert(
        [{"id": "d1", "vector": vec(0.5), "metadata": {"n": 1}}, {"id": "d2", "vector": vec(0, 1)}],
        namespace=fresh_namespace,
    )

    fetched = index.fetch(["d1", "d2"], include_metadata=True, namespace=fresh_namespace)

    assert [f.id for f in fetched if f] == ["d1", "d2"]
    assert fetched[0] is not None and fetched[0].metadata == {"n": 1}


def test_upsert_vector_objects(index: Index, fresh_namespace: str, vec: Vec) -> None:
    index.upsert(
        [Vector(id="v1", vector=vec(1), metadata={"a": "b"}, data="text")],
        namespace=fresh_namespace,
    )

    [fetched] = index.fetch(
        "v1", include_metadata=True, include_data=True, namespace=fresh_namespace
    )

    assert fetched is not None and (fetched.metadata, fetched.data) == ({"a": "b"}, "text")


def test_upsert_accepts_numpy_vectors(index: Index, fresh_namespace: str) -> None:
    index.upsert([("np", np.full(384, 0.25, dtype=np.float32))], namespace=fresh_namespace)

    [fetched] = index.fetch("np", include_vectors=True, namespace=fresh_namespace)

    assert fetched is not None and fetched.vector == [0.25] * 384


def test_upsert_data_objects_are_embedded_to_unit_vectors(
    index: Index, fresh_namespace: str
) -> None:
    index.upsert(
        [Data(id="t1", data="spicy lentil curry", metadata={"cuisine": "indian"})],
        namespace=fresh_namespace,
    )

    [fetched] = index.fetch(
        "t1",
        include_vectors=True,
        include_metadata=True,
        include_data=True,
        namespace=fresh_namespace,
    )

    assert fetched is not None and fetched.vector is not None
    assert len(fetched.vector) == 384
    assert abs(float(np.linalg.norm(fetched.vector)) - 1.0) < 1e-5
    assert (fetched.data, fetched.metadata) == ("spicy lentil curry", {"cuisine": "indian"})


def test_upsert_data_tuples_are_embedded(index: Index, fresh_namespace: str) -> None:
    index.upsert([("t2", "miso soup", {"k": 1})], namespace=fresh_namespace)

    [fetched] = index.fetch("t2", include_data=True, namespace=fresh_namespace)

    assert fetched is not None and fetched.data == "miso soup"


def test_upsert_replaces_the_whole_vector_record(
    index: Index, fresh_namespace: str, vec: Vec
) -> None:
    index.upsert([("r", vec(1), {"old": True}, "old data")], namespace=fresh_namespace)
    index.upsert([("r", vec(0, 1))], namespace=fresh_namespace)

    [fetched] = index.fetch(
        "r",
        include_vectors=True,
        include_metadata=True,
        include_data=True,
        namespace=fresh_namespace,
    )

    assert fetched is not None
    assert (fetched.vector, fetched.metadata, fetched.data) == (vec(0, 1), None, None)


def test_integer_ids_are_stored_as_strings(index: Index, fresh_namespace: str, vec: Vec) -> None:
    index.upsert([(42, vec(1))], namespace=fresh_namespace)

    [fetched] = index.fetch("42", namespace=fresh_namespace)

    assert fetched is not None and fetched.id == "42"


def test_vector_values_round_trip_in_their_shortest_form(
    index: Index, fresh_namespace: str, vec: Vec
) -> None:
    index.upsert([("p", vec(0.1, -0.3, 1e-7))], namespace=fresh_namespace)

    [fetched] = index.fetch("p", include_vectors=True, namespace=fresh_namespace)

    assert fetched is not None and fetched.vector is not None
    assert fetched.vector[:3] == [0.1, -0.3, 1e-7]


def test_fetch_answers_none_in_place_of_missing_ids(
    index: Index, fresh_namespace: str, vec: Vec
) -> None:
    index.upsert([("x", vec(1)), ("z", vec(0, 1))], namespace=fresh_namespace)

    fetched = index.fetch(["x", "missing", "z"], namespace=fresh_namespace)

    assert [None if f is None else f.id for f in fetched] == ["x", None, "z"]


def test_fetch_without_include_flags_returns_ids_only(
    index: Index, fresh_namespace: str, vec: Vec
) -> None:
    index.upsert([("x", vec(1), {"m": 1}, "d")], namespace=fresh_namespace)

    [fetched] = index.fetch("x", namespace=fresh_namespace)

    assert fetched is not None
    assert (fetched.vector, fetched.metadata, fetched.data) == (None, None, None)


def test_fetch_by_prefix_returns_matching_ids_in_order(
    index: Index, fresh_namespace: str, vec: Vec
) -> None:
    index.upsert(
        [("doc-2", vec(1)), ("doc-1", vec(1)), ("other", vec(1)), ("doc", vec(1))],
        namespace=fresh_namespace,
    )

    fetched = index.fetch(prefix="doc-", namespace=fresh_namespace)

    assert [f.id for f in fetched if f] == ["doc-1", "doc-2"]
