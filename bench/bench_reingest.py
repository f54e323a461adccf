"""Re-ingest of an unchanged file: how long finding the unchanged items takes, and what it reads.

    .venv/bin/python bench/bench_reingest.py [--size 50000] [--rtt-ms 40] [--runs 3]

Behind a loopback proxy adding a cloud-like round trip to every request:
- before: the former listing, a sequential range of every vector's metadata with its text in it
  (items written in the former layout);
- after, listing: a metadata-only range of the current layout (what an upload that changed the
  namespace's membership still does);
- after, re-ingest: `sync_foods` of the unchanged file: the namespace's size, then the file's ids
  fetched in parallel (4 and 8 at a time); nothing is written.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from collections.abc import Callable

import httpx
from _common import generated_foods, print_table
from latency_proxy import LatencyProxy
from pydantic import SecretStr
from upstash_vector import Index
from upstash_vector.types import Data

from ragfood.foods import parse_foods
from ragfood.retry import RetryPolicy
from ragfood.sync import sync_foods
from ragfood.transport import StdlibTransport
from ragfood.vector import VectorGateway, make_client
from ragfood_vector.launcher import VectorServer


class ByteCounter(StdlibTransport):
    def __init__(self) -> None:
        super().__init__()
        self.received = 0

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        response = super().handle_request(request)
        response.read()
        self.received += len(response.content)
        return response


def timed(runs: int, action: Callable[[], object]) -> float:
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        action()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--size", type=int, default=50_000)
    parser.add_argument("--rtt-ms", type=float, default=40.0)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    items = generated_foods(args.size)
    raw = json.dumps(items).encode()
    records = parse_foods(raw).records

    with (
        VectorServer(embedder="hash", sparse="none") as server,
        LatencyProxy("127.0.0.1", server.port, args.rtt_ms) as proxy,
    ):
        # Fill both namespaces directly (no proxy): only the reads are measured.
        direct = VectorGateway(
            server.url, SecretStr(server.token), make_client(RetryPolicy(), 300.0), batch_size=1000
        )
        sync_foods(raw, direct, namespace="current", source="foods.json")
        legacy = Index(url=server.url, token=server.token)
        for start in range(0, len(records), 1000):
            legacy.upsert(
                [
                    Data(
                        id=r.id,
                        data=r.enriched,
                        metadata={**r.metadata("foods.json"), "text": r.text},
                    )
                    for r in records[start : start + 1000]
                ],
                namespace="former",
            )

        def gateway(parallelism: int) -> tuple[VectorGateway, ByteCounter]:
            counter = ByteCounter()
            client = make_client(RetryPolicy(), 300.0, inner=counter)
            return (
                VectorGateway(
                    proxy.url,
                    SecretStr(server.token),
                    client,
                    batch_size=500,
                    parallelism=parallelism,
                ),
                counter,
            )

        rows = []
        former, counter = gateway(4)

        def former_listing() -> None:
            # What stored_hashes did before: every vector's metadata, the text included.
            cursor = ""
            while True:
                page = former._index.range(
                    cursor=cursor, limit=1000, include_metadata=True, namespace="former"
                )
                cursor = page.next_cursor
                if not cursor:
                    return

        before = proxy.requests
        seconds = timed(args.runs, former_listing)
        rows.append(["before: range, metadata with text", (proxy.requests - before) // args.runs,
                     f"{seconds:.2f}", f"{counter.received / args.runs / 1e6:.1f}"])  # fmt: skip

        listing, counter = gateway(4)
        before = proxy.requests
        seconds = timed(args.runs, lambda: listing.stored_items("current"))
        rows.append(["after: range, metadata only", (proxy.requests - before) // args.runs,
                     f"{seconds:.2f}", f"{counter.received / args.runs / 1e6:.1f}"])  # fmt: skip

        for parallelism in (4, 8):
            ours, counter = gateway(parallelism)
            before = proxy.requests
            reports = []
            seconds = timed(
                args.runs,
                lambda ours=ours, reports=reports: reports.append(
                    sync_foods(raw, ours, namespace="current")
                ),
            )
            assert all(r.unchanged == args.size and r.upserted == 0 for r in reports)
            listed = statistics.median(r.timings_ms["list"] for r in reports) / 1000
            rows.append([f"after: re-ingest, fetch x{parallelism} (list {listed:.2f} s)",
                         (proxy.requests - before) // args.runs, f"{seconds:.2f}",
                         f"{counter.received / args.runs / 1e6:.1f}"])  # fmt: skip

    print_table(
        f"re-ingest of {args.size} unchanged items behind {args.rtt_ms:g} ms "
        f"(median of {args.runs})",
        ["what", "requests", "seconds", "MB read"],
        rows,
    )


if __name__ == "__main__":
    main()
