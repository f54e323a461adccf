"""Ingest under sustained throttling: 30 % of all answers 429/503, with and without the budget.

    .venv/bin/python bench/bench_throttling.py [--items 20000] [--batch 200] [--runs 4]

Each run ingests the items into a fresh namespace of a local vector service that fails a seeded
30 % of requests (half 429, half 503) before doing any work. Requests have their usual 4 attempts
(RetryPolicy defaults). "per request only" gives the ingest no retry budget (what ingest did
before: one unlucky batch fails the upload); "budget" retries a batch whose attempts ran out for
as long as the ingest's budget (600 s) lasts.
"""

from __future__ import annotations

import argparse
import json
import time

from _common import generated_foods, print_table
from pydantic import SecretStr

from ragfood.errors import VectorUnavailable
from ragfood.retry import RetryPolicy
from ragfood.sync import sync_foods
from ragfood.vector import VectorGateway, make_client
from ragfood_vector.launcher import VectorServer


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--items", type=int, default=20_000)
    parser.add_argument("--batch", type=int, default=200)
    parser.add_argument("--runs", type=int, default=4)
    parser.add_argument("--fail-rate", type=float, default=0.3)
    args = parser.parse_args()
    raw = json.dumps(generated_foods(args.items)).encode()
    rows = []
    for label, budget_s in (("per request only", 0.0), ("budget 600 s", 600.0)):
        for run in range(args.runs):
            with VectorServer(
                embedder="hash", sparse="none", fail_rate=args.fail_rate, seed=100 + run
            ) as server:
                client = make_client(RetryPolicy(), 120.0)
                gateway = VectorGateway(
                    server.url, SecretStr(server.token), client, batch_size=args.batch
                )
                started = time.perf_counter()
                try:
                    report = sync_foods(raw, gateway, namespace="t", budget_s=budget_s)
                    outcome = f"{report.status}, {report.upserted} upserted"
                    retried = report.retried
                except VectorUnavailable as exc:
                    outcome, retried = f"FAILED: {str(exc)[:60]}", "-"
                seconds = time.perf_counter() - started
            rows.append([label, run + 1, outcome, retried, f"{seconds:.1f}"])
    print_table(
        f"{args.items} items in batches of {args.batch}, {args.fail_rate:.0%} of answers 429/503",
        ["retries", "run", "outcome", "batches retried", "seconds"],
        rows,
    )


if __name__ == "__main__":
    main()
