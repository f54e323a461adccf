"""Resumable queries through the SDK: start, fetch_next, stop, as Upstash documents them."""

from __future__ import annotations

import time
from collections.abc import Callable

import pytest
from upstash_vector import Index, Vector
from upstash_vector.errors import UpstashError
from upstash_vector.types import QueryMode, SparseVector

from ragfood_vector.errors import ApiError
from ragfood_vector.filters import compile_filter
from ragfood_vector.protocol import QuerySpec
from ragfood_vector.resumable import ResumableQueries
from ragfood_vector.search import Hit

Vec = Callable[..., list[float]]


@pytest.fixture
def filled(index: Index, vec: Vec, fresh_namespace: str) -> str:
    """Ten vectors at growing angles from vec(1): v0 is the nearest, v9 the farthest."""
    index.upsert(
        [(f"v{i}", vec(1, i / 3), {"i": i, "even": i % 2 == 0}, f"text {i}") for i in range(10)],
        namespace=fresh_namespace,
    )
    return fresh_namespace


def test_batches_continue_where_the_previous_one_stopped(
    index: Index, vec: Vec, filled: str
) -> None:
    expected = index.query(vector=vec(1), top_k=10, namespace=filled)

    first, handle = index.resumable_query(vector=vec(1), top_k=3, namespace=filled)
    with handle:
        second = handle.fetch_next(4)
        third = handle.fetch_next(2)

    got = first + second + third
    assert [len(first), len(second), len(third)] == [3, 4, 2]
    assert [(r.id, r.score) for r in got] == [(r.id, r.score) for r in expected[:9]]


def test_fetching_past_the_end_returns_what_is_left_then_nothing(
    index: Index, vec: Vec, filled: str
) -> None:
    first, handle = index.resumable_query(vector=vec(1), top_k=8, namespace=filled)
    with handle:
        rest = handle.fetch_next(5)
        after = handle.fetch_next(5)

    assert len(first) == 8 and [r.id for r in rest] == ["v8", "v9"] and after == []


def test_filter_and_include_flags_hold_for_the_whole_query(
    index: Index, vec: Vec, filled: str
) -> None:
    first, handle = index.resumable_query(
        vector=vec(1),
        top_k=2,
        filter="even = true",
        include_metadata=True,
        include_data=True,
        include_vectors=True,
        namespace=filled,
    )
    with handle:
        more = handle.fetch_next(10)

    results = first + more
    assert [r.id for r in results] == ["v0", "v2", "v4", "v6", "v8"]
    assert all(r.metadata is not None and r.metadata["even"] for r in results)
    assert all(r.data == f"text {r.metadata['i']}" for r in results if r.metadata)
    assert all(r.vector is not None and len(r.vector) == 384 for r in results)


def test_a_resumable_query_by_data_ranks_like_a_query_by_data(
    index: Index, fresh_namespace: str
) -> None:
    index.upsert(
        [("soup", "hot tomato soup"), ("cake", "sweet chocolate cake"), ("tea", "green tea")],
        namespace=fresh_namespace,
    )
    expected = index.query(data="tomato soup", top_k=3, namespace=fresh_namespace)

    first, handle = index.resumable_query(data="tomato soup", top_k=1, namespace=fresh_namespace)
    with handle:
        rest = handle.fetch_next(2)

    assert [(r.id, r.score) for r in first + rest] == [(r.id, r.score) for r in expected]


def test_a_resumable_query_sees_only_its_namespace(
    index: Index, vec: Vec, filled: str, fresh_namespace: str
) -> None:
    index.upsert([("elsewhere", vec(1))], namespace=f"{fresh_namespace}-other")

    first, handle = index.resumable_query(vector=vec(1), top_k=5, namespace=filled)
    with handle:
        rest = handle.fetch_next(100)

    assert {r.id for r in first + rest} == {f"v{i}" for i in range(10)}


def test_a_stopped_query_cannot_be_resumed(index: Index, vec: Vec, filled: str) -> None:
    _, handle = index.resumable_query(vector=vec(1), top_k=1, namespace=filled)
    handle.stop()

    with pytest.raises(UpstashError, match="does not exist"):
        handle.fetch_next(1)
    with pytest.raises(UpstashError, match="does not exist"):
        handle.stop()


def test_an_idle_query_ends_after_its_max_idle(index: Index, vec: Vec, filled: str) -> None:
    _, handle = index.resumable_query(vector=vec(1), top_k=1, max_idle=1, namespace=filled)

    time.sleep(2.5)

    with pytest.raises(UpstashError, match="does not exist"):
        handle.fetch_next(1)


def test_vectors_deleted_meanwhile_are_skipped(index: Index, vec: Vec, filled: str) -> None:
    first, handle = index.resumable_query(vector=vec(1), top_k=1, namespace=filled)
    index.delete(ids=["v1", "v2"], namespace=filled)
    with handle:
        rest = handle.fetch_next(3)

    assert [r.id for r in first] == ["v0"] and [r.id for r in rest] == ["v3", "v4", "v5"]


def test_the_read_only_token_can_run_resumable_queries(
    readonly_index: Index, vec: Vec, filled: str
) -> None:
    first, handle = readonly_index.resumable_query(vector=vec(1), top_k=1, namespace=filled)
    with handle:
        assert [r.id for r in first + handle.fetch_next(1)] == ["v0", "v1"]


def test_additional_k_must_be_between_1_and_1000(index: Index, vec: Vec, filled: str) -> None:
    _, handle = index.resumable_query(vector=vec(1), top_k=1, namespace=filled)
    with handle:
        for bad in (0, 1001):
            with pytest.raises(UpstashError, match="additionalK must be between 1 and 1000"):
                handle.fetch_next(bad)


def test_a_resumable_query_of_a_bad_dimension_is_refused(index: Index) -> None:
    with pytest.raises(UpstashError, match="Invalid vector dimension: 2, expected: 384"):
        index.resumable_query(vector=[1.0, 2.0])


def test_a_hybrid_resumable_query_ranks_like_the_hybrid_query(hybrid_index: Index) -> None:
    namespace = "resumable-hybrid"
    hybrid_index.upsert(
        [
            ("a", "grilled fish with lemon"),
            ("b", "lemon cake"),
            ("c", "fish soup"),
            ("d", "rice pudding"),
        ],
        namespace=namespace,
    )
    for mode in (QueryMode.HYBRID, QueryMode.SPARSE, QueryMode.DENSE):
        expected = hybrid_index.query(
            data="lemon fish", top_k=4, query_mode=mode, namespace=namespace
        )
        first, handle = hybrid_index.resumable_query(
            data="lemon fish", top_k=2, query_mode=mode, namespace=namespace
        )
        with handle:
            rest = handle.fetch_next(10)
        assert [(r.id, r.score) for r in first + rest] == [(r.id, r.score) for r in expected]


def _text_query_spec() -> QuerySpec:
    """A query's options as the service keeps them (the engine-level tests need no real query)."""
    return QuerySpec(
        vector=None,
        data="x",
        top_k=1,
        include_vectors=False,
        include_metadata=False,
        include_data=False,
        predicate=compile_filter(""),
    )


def test_the_number_of_active_queries_is_capped_and_stopping_frees_a_place() -> None:
    clock = [0.0]
    queries = ResumableQueries(max_active=2, clock=lambda: clock[0])
    spec = _text_query_spec()
    first, _ = queries.start("", spec, [Hit("a", 1.0)], max_idle=10)
    queries.start("", spec, [], max_idle=100)

    with pytest.raises(ApiError, match="Too many active resumable queries") as refused:
        queries.start("", spec, [], max_idle=10)
    assert refused.value.status == 429

    queries.end(first)
    queries.start("", spec, [], max_idle=10)
    clock[0] = 11.0  # the one idle for longer than its 10 s ends by itself: a place again
    queries.start("", spec, [], max_idle=10)


def test_the_first_hybrid_batch_is_what_the_same_query_returns(
    hybrid_index: Index, vec: Vec, fresh_namespace: str
) -> None:
    # Dense ranks a > b > c > d, sparse ranks c > d: fused over each side's top 2 (a query of
    # topK 2) a and c lead; fused over everything, c and d would.
    hybrid_index.upsert(
        [
            Vector(id="a", vector=vec(1, 0.1), sparse_vector=SparseVector([9], [1.0])),
            Vector(id="b", vector=vec(1, 0.2), sparse_vector=SparseVector([9], [1.0])),
            Vector(id="c", vector=vec(1, 0.3), sparse_vector=SparseVector([1], [2.0])),
            Vector(id="d", vector=vec(1, 0.4), sparse_vector=SparseVector([1], [1.0])),
        ],
        namespace=fresh_namespace,
    )
    sparse = SparseVector([1], [1.0])
    expected = hybrid_index.query(
        vector=vec(1), sparse_vector=sparse, top_k=2, namespace=fresh_namespace
    )

    first, handle = hybrid_index.resumable_query(
        vector=vec(1), sparse_vector=sparse, top_k=2, namespace=fresh_namespace
    )
    with handle:
        rest = handle.fetch_next(10)

    assert [(r.id, r.score) for r in first] == [(r.id, r.score) for r in expected]
    assert [r.id for r in expected] == ["a", "c"]
    assert sorted(r.id for r in rest) == ["b", "d"]


def test_each_use_restarts_the_idle_time() -> None:
    clock = [0.0]
    queries = ResumableQueries(clock=lambda: clock[0])
    spec = _text_query_spec()
    query_id, _ = queries.start("", spec, [Hit(str(i), 1.0) for i in range(5)], max_idle=10)

    def alive(namespace: str, ids: list[str]) -> list[bool]:
        return [True] * len(ids)

    for now in (8.0, 16.0, 24.0):  # each within 10 s of the previous use
        clock[0] = now
        assert len(queries.next(query_id, 1, alive)[2]) == 1
    clock[0] = 34.5
    with pytest.raises(ApiError, match="does not exist") as ended:
        queries.next(query_id, 1, alive)
    assert ended.value.status == 404
