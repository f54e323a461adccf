"""Ask latency through the ask handler: ours against the naive client, behind a 40 ms round trip.

    .venv/bin/python bench/bench_ask.py [--questions 200] [--rtt-ms 40]

The vector service (hash embedder) sits behind a loopback latency proxy; the generator is the
test stub, answering at once, behind its own proxy. Round trips are counted by the proxies.
"""

from __future__ import annotations

import argparse
import json
import time

from _common import REPO, generated_foods, median, percentile, print_table
from latency_proxy import LatencyProxy
from naive import naive_ask
from pydantic import SecretStr

from ragfood.retry import RetryPolicy
from ragfood.sync import sync_foods
from ragfood.vector import VectorGateway, make_client
from ragfood_cli.lambda_runner import LocalFunction
from ragfood_vector.launcher import VectorServer
from tests.support.generator_stub import GeneratorStub


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--questions", type=int, default=200)
    parser.add_argument("--rtt-ms", type=float, default=40.0)
    args = parser.parse_args()
    event = json.loads((REPO / "events" / "api-ask.json").read_text())
    questions = [
        f"Which dish is made with rice and beans, version {i}?" for i in range(args.questions)
    ]

    with (
        VectorServer(embedder="hash") as server,
        GeneratorStub() as stub,
        LatencyProxy("127.0.0.1", server.port, args.rtt_ms) as vector_proxy,
        LatencyProxy("127.0.0.1", int(stub.url.rsplit(":", 1)[1]), args.rtt_ms) as gen_proxy,
    ):
        gateway = VectorGateway(
            server.url, SecretStr(server.token), make_client(RetryPolicy(), 60.0), batch_size=1000
        )
        sync_foods(json.dumps(generated_foods(2000)).encode(), gateway, namespace="bench")
        ask = LocalFunction(
            "ask",
            env={
                "UPSTASH_VECTOR_REST_URL": vector_proxy.url,
                "UPSTASH_VECTOR_REST_READONLY_TOKEN": server.readonly_token,
                "RAGFOOD_NAMESPACE": "bench",
                "RAGFOOD_MIN_SCORE": "0",
                "GENERATOR_URL": gen_proxy.url,
                "POWERTOOLS_LOG_LEVEL": "ERROR",
            },
        )
        ask.invoke({**event, "body": json.dumps({"question": "warm up"})})

        def measure(call) -> tuple[list[float], float]:
            before = vector_proxy.requests + gen_proxy.requests
            latencies = []
            for question in questions:
                started = time.perf_counter()
                call(question)
                latencies.append((time.perf_counter() - started) * 1000)
            trips = (vector_proxy.requests + gen_proxy.requests - before) / len(questions)
            return latencies, trips

        def ours(question: str) -> None:
            response = ask.invoke({**event, "body": json.dumps({"question": question})})
            assert response["statusCode"] == 200, response["body"]

        ours_ms, ours_trips = measure(ours)
        cached_ms, cached_trips = measure(ours)  # the same questions again: cache hits
        naive_ms, naive_trips = measure(
            lambda q: naive_ask(vector_proxy.url, server.readonly_token, gen_proxy.url, q, "bench")
        )

    rows = [
        ["naive (new client, info, query, generate)", *_stats(naive_ms), naive_trips],
        ["ours, through the ask handler", *_stats(ours_ms), ours_trips],
        ["ours, repeated question (cache)", *_stats(cached_ms), cached_trips],
    ]
    print_table(
        f"{len(questions)} asks, {args.rtt_ms:.0f} ms RTT to the index and to the generator",
        ["client", "p50 ms", "p95 ms", "p99 ms", "round trips/ask"],
        rows,
    )
    print(f"\n  speed-up at p50: {median(naive_ms) / median(ours_ms):.2f}x")


def _stats(values: list[float]) -> list[float]:
    return [median(values), percentile(values, 95), percentile(values, 99)]


if __name__ == "__main__":
    main()
