"""Many clients at once: writes never get lost or interleaved, reads never fail."""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from ragfood_vector.launcher import VectorServer

Vec = Callable[..., list[float]]


def test_eight_concurrent_writers_lose_no_vector(
    vector_server: VectorServer, fresh_namespace: str
) -> None:
    def write(worker: int) -> None:
        rng = np.random.default_rng(worker)
        index = vector_server.index()
        for batch in range(3):
            index.upsert(
                [(f"w{worker}-b{batch}-{i}", rng.normal(size=384).tolist()) for i in range(50)],
                namespace=fresh_namespace,
            )

    with ThreadPoolExecutor(max_workers=8) as pool:
        list(pool.map(write, range(8)))

    index = vector_server.index()
    assert index.info().namespaces[fresh_namespace].vector_count == 8 * 3 * 50
    assert None not in index.fetch([f"w{w}-b2-49" for w in range(8)], namespace=fresh_namespace)


def test_queries_succeed_while_writes_are_in_progress(
    vector_server: VectorServer, fresh_namespace: str, vec: Vec
) -> None:
    vector_server.index().upsert([("anchor", vec(1))], namespace=fresh_namespace)

    def write(worker: int) -> None:
        index = vector_server.index()
        for batch in range(5):
            index.upsert(
                [(f"w{worker}-{batch}-{i}", vec(0, 1, i)) for i in range(20)],
                namespace=fresh_namespace,
            )

    def read(worker: int) -> bool:
        index = vector_server.index(readonly=True)
        return all(
            index.query(vector=vec(1), top_k=1, namespace=fresh_namespace)[0].id == "anchor"
            for _ in range(10)
        )

    with ThreadPoolExecutor(max_workers=8) as pool:
        writes = [pool.submit(write, w) for w in range(4)]
        reads = [pool.submit(read, r) for r in range(4)]
        assert all(future.result() for future in reads)
        for future in writes:
            future.result()
