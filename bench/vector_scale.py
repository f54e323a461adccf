"""Scale benchmark of the local vector service (not a test).

Starts a hash-embedder service through the launcher, grows one namespace to each requested size
with raw 384-dim vectors upserted through the SDK in batches of 1000, and at each size reports
insert throughput, the first query (which rebuilds the search cache) and query latency
percentiles, unfiltered and with a metadata filter.

    .venv/bin/python bench/vector_scale.py --sizes 1000,10000,100000
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from ragfood_vector.launcher import VectorServer

DIMENSION = 384
BATCH = 1000


@dataclass
class Row:
    size: int
    insert_per_second: float
    first_query_ms: float
    p50_ms: float
    p95_ms: float
    filtered_p50_ms: float
    filtered_p95_ms: float


def timed_ms(call: Callable[[], object]) -> float:
    started = time.perf_counter()
    call()
    return (time.perf_counter() - started) * 1000


def run(sizes: list[int], queries: int, seed: int) -> tuple[list[Row], dict[str, int]]:
    rng = np.random.default_rng(seed)
    rows: list[Row] = []
    with VectorServer(embedder="hash", dimension=DIMENSION) as server:
        index = server.index()
        inserted = 0
        for size in sizes:
            started = time.perf_counter()
            added = 0
            while inserted < size:
                count = min(BATCH, size - inserted)
                # Rounded to float32 so the JSON carries what the service stores.
                vectors = rng.standard_normal((count, DIMENSION)).astype(np.float32)
                index.upsert(
                    [
                        (f"v{inserted + i:07d}", vectors[i], {"group": (inserted + i) % 10})
                        for i in range(count)
                    ]
                )
                inserted += count
                added += count
            insert_seconds = time.perf_counter() - started

            probes = rng.standard_normal((queries, DIMENSION)).astype(np.float32)
            first_query_ms = timed_ms(lambda p=probes[0]: index.query(vector=p, top_k=10))
            latencies = [timed_ms(lambda p=p: index.query(vector=p, top_k=10)) for p in probes]
            filtered = [
                timed_ms(lambda p=p: index.query(vector=p, top_k=10, filter="group = 3"))
                for p in probes[: max(1, queries // 4)]
            ]
            rows.append(
                Row(
                    size=size,
                    insert_per_second=added / insert_seconds if added else float("nan"),
                    first_query_ms=first_query_ms,
                    p50_ms=float(np.percentile(latencies, 50)),
                    p95_ms=float(np.percentile(latencies, 95)),
                    filtered_p50_ms=float(np.percentile(filtered, 50)),
                    filtered_p95_ms=float(np.percentile(filtered, 95)),
                )
            )
            print(f"  ... {size} vectors done", flush=True)
        info = index.info()
    return rows, {"vectorCount": info.vector_count, "indexSize": info.index_size}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument(
        "--sizes", default="1000,10000,100000", help="comma-separated vector counts"
    )
    parser.add_argument("--queries", type=int, default=200, help="queries per size")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    sizes = sorted({int(s) for s in args.sizes.split(",") if s.strip()})

    print(
        f"vector service scale benchmark: dim {DIMENSION}, batches of {BATCH}, "
        f"{args.queries} queries per size (top_k 10), filtered = 'group = 3' (10% match)"
    )
    started = time.perf_counter()
    rows, info = run(sizes, args.queries, args.seed)

    header = (
        f"{'vectors':>8} | {'insert/s':>9} | {'1st query ms':>12} | {'p50 ms':>7} | {'p95 ms':>7}"
        f" | {'filt p50':>8} | {'filt p95':>8}"
    )
    print(header)
    print("-" * len(header))
    for row in rows:
        print(
            f"{row.size:>8} | {row.insert_per_second:>9.0f} | {row.first_query_ms:>12.1f} | "
            f"{row.p50_ms:>7.2f} | {row.p95_ms:>7.2f} | {row.filtered_p50_ms:>8.2f} | "
            f"{row.filtered_p95_ms:>8.2f}"
        )
    print(
        f"final: {info['vectorCount']} vectors, SQLite size {info['indexSize'] / 1e6:.0f} MB, "
        f"total {time.perf_counter() - started:.0f} s"
    )
    print("latencies are client-side round trips through the SDK (HTTP + JSON included); the first")
    print("query after writes includes rebuilding the in-memory matrix from SQLite.")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
