"""Scale benchmark of the local vector service (not a test).

Part 1, raw vectors on a dense-only index: starts a hash-embedder service through the launcher,
grows one namespace to each requested size with raw 384-dim vectors upserted through the SDK in
batches of 1000, and at each size reports insert throughput, the first query (which rebuilds the
search cache) and query latency percentiles, unfiltered and with a metadata filter.

Part 2, text on a dense-only and on a hybrid (dense + BM25) index: grows both to each size with
synthetic 24-word documents (Zipf-distributed words, like text) through /upsert-data, and
reports insert throughput and /query-data p50/p95 for 3-word questions: dense-only; and on the
hybrid index HYBRID (RRF), DENSE and SPARSE (IDF) modes.

    .venv/bin/python bench/vector_scale.py --sizes 1000,10000,100000
    .venv/bin/python bench/vector_scale.py --part text --sizes 1000,10000,100000
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from upstash_vector.types import Data, QueryMode, WeightingStrategy

from ragfood_vector.launcher import VectorServer

DIMENSION = 384
BATCH = 1000
VOCABULARY = 20_000
WORDS_PER_DOCUMENT = 24
WORDS_PER_QUESTION = 3


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
    with VectorServer(embedder="hash", dimension=DIMENSION, sparse="none") as server:
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


@dataclass
class TextRow:
    size: int
    dense_insert_per_second: float
    hybrid_insert_per_second: float
    # mode -> (p50 ms, p95 ms); "dense-only" is the dense-only index, the others the hybrid one
    latencies: dict[str, tuple[float, float]]


def words(rng: np.random.Generator, count: int) -> str:
    # Zipf-like word frequencies, as in text: a few words are in most documents, most are rare.
    ranks = np.minimum(rng.zipf(1.3, size=count), VOCABULARY)
    return " ".join(f"w{rank}x" for rank in ranks)


def run_text(sizes: list[int], queries: int, seed: int) -> list[TextRow]:
    rng = np.random.default_rng(seed)
    rows: list[TextRow] = []
    modes = {
        "hybrid RRF": {"query_mode": QueryMode.HYBRID},
        "hybrid DENSE": {"query_mode": QueryMode.DENSE},
        "hybrid SPARSE+IDF": {
            "query_mode": QueryMode.SPARSE,
            "weighting_strategy": WeightingStrategy.IDF,
        },
    }
    with (
        VectorServer(embedder="hash", dimension=DIMENSION, sparse="none") as dense_server,
        VectorServer(embedder="hash", dimension=DIMENSION, sparse="bm25") as hybrid_server,
    ):
        dense, hybrid = dense_server.index(), hybrid_server.index()
        inserted = 0
        for size in sizes:
            seconds = {"dense": 0.0, "hybrid": 0.0}
            added = 0
            while inserted < size:
                count = min(BATCH, size - inserted)
                batch = [
                    Data(id=f"d{inserted + i:07d}", data=words(rng, WORDS_PER_DOCUMENT))
                    for i in range(count)
                ]
                for name, index in (("dense", dense), ("hybrid", hybrid)):
                    seconds[name] += timed_ms(lambda i=index, b=batch: i.upsert(b)) / 1000
                inserted += count
                added += count
            questions = [words(rng, WORDS_PER_QUESTION) for _ in range(queries)]
            latencies: dict[str, tuple[float, float]] = {}
            for name, index, options in [
                ("dense-only", dense, {}),
                *[(mode, hybrid, opts) for mode, opts in modes.items()],
            ]:
                index.query(data=questions[0], top_k=10, **options)  # rebuilds the cache
                times = [
                    timed_ms(lambda i=index, q=q, o=options: i.query(data=q, top_k=10, **o))
                    for q in questions
                ]
                latencies[name] = (
                    float(np.percentile(times, 50)),
                    float(np.percentile(times, 95)),
                )
            rows.append(
                TextRow(
                    size=size,
                    dense_insert_per_second=added / seconds["dense"] if added else float("nan"),
                    hybrid_insert_per_second=added / seconds["hybrid"] if added else float("nan"),
                    latencies=latencies,
                )
            )
            print(f"  ... {size} documents done", flush=True)
    return rows


def print_text(rows: list[TextRow], queries: int) -> None:
    print(
        f"text: {WORDS_PER_DOCUMENT}-word documents (Zipf over {VOCABULARY} words) by /upsert-data,"
        f" {queries} {WORDS_PER_QUESTION}-word /query-data per size and mode, top_k 10;"
        " p50 / p95 ms"
    )
    names = list(rows[0].latencies) if rows else []
    header = f"{'docs':>7} | {'ins/s dense':>11} | {'ins/s hybrid':>12} | " + " | ".join(
        f"{name:>17}" for name in names
    )
    print(header)
    print("-" * len(header))
    for row in rows:
        cells = " | ".join(
            f"{p50:>8.2f} /{p95:>7.2f}" for p50, p95 in (row.latencies[n] for n in names)
        )
        print(
            f"{row.size:>7} | {row.dense_insert_per_second:>11.0f} | "
            f"{row.hybrid_insert_per_second:>12.0f} | {cells}"
        )
    print("insert rates include embedding (hash) and, on the hybrid index, BM25 of every text.")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument(
        "--sizes", default="1000,10000,100000", help="comma-separated vector counts"
    )
    parser.add_argument("--queries", type=int, default=200, help="queries per size")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--part",
        choices=["vectors", "text", "both"],
        default="both",
        help="raw vectors on a dense-only index, text on dense-only vs hybrid, or both",
    )
    args = parser.parse_args(argv)
    sizes = sorted({int(s) for s in args.sizes.split(",") if s.strip()})
    if args.part in ("text", "both"):
        started = time.perf_counter()
        text_rows = run_text(sizes, args.queries, args.seed)
        print_text(text_rows, args.queries)
        print(f"text part: {time.perf_counter() - started:.0f} s")
    if args.part == "text":
        return 0

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
