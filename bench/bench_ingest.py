"""Ingest throughput: our sync against the naive sequential client, behind a 40 ms round trip.

    .venv/bin/python bench/bench_ingest.py [--sizes 1000,10000,50000] [--rtt-ms 40]

Both write the same generated items into the local vector service (hash embedder) through a
loopback latency proxy, in the same run. Then the unchanged file is ingested again.
"""

from __future__ import annotations

import argparse
import json
import time

from _common import generated_foods, print_table
from latency_proxy import LatencyProxy
from naive import naive_ingest
from pydantic import SecretStr

from ragfood.retry import RetryPolicy
from ragfood.sync import sync_foods
from ragfood.vector import VectorGateway, make_client
from ragfood_vector.launcher import VectorServer


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sizes", default="1000,10000,50000")
    parser.add_argument("--rtt-ms", type=float, default=40.0)
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]

    rows = []
    with (
        VectorServer(embedder="hash") as server,
        LatencyProxy("127.0.0.1", server.port, args.rtt_ms) as proxy,
    ):
        client = make_client(RetryPolicy(), timeout_s=300.0)
        gateway = VectorGateway(
            proxy.url, SecretStr(server.token), client, batch_size=500, parallelism=4
        )
        for size in sizes:
            items = generated_foods(size)
            raw = json.dumps(items).encode()

            started = time.perf_counter()
            naive_items = generated_foods(size, first=10_000_000)
            naive_ingest(proxy.url, server.token, naive_items, namespace=f"naive-{size}")
            naive_s = time.perf_counter() - started

            started = time.perf_counter()
            first = sync_foods(raw, gateway, namespace=f"ours-{size}")
            ours_s = time.perf_counter() - started

            before = proxy.requests
            started = time.perf_counter()
            again = sync_foods(raw, gateway, namespace=f"ours-{size}")
            again_s = time.perf_counter() - started
            assert first.upserted == size and again.unchanged == size

            rows.append(
                [
                    size,
                    round(size / naive_s),
                    round(size / ours_s),
                    f"{naive_s / ours_s:.1f}x",
                    round(again_s * 1000),
                    again.upserted,
                    proxy.requests - before,
                ]
            )
    print_table(
        f"Ingest into the local vector service (hash embedder) behind a {args.rtt_ms:.0f} ms RTT",
        [
            "items",
            "naive items/s",
            "ours items/s",
            "speed-up",
            "re-ingest ms",
            "re-ingest upserts",
            "re-ingest requests",
        ],
        rows,
    )


if __name__ == "__main__":
    main()
