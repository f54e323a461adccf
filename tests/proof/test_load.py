"""Proof under load: 200 concurrent asks against `ragfood serve`, then 200 repeats.

The served API (a subprocess on 127.0.0.1) reads a fresh namespace of the session's vector
service, where a knowledge base is ingested first. A thread pool of 32 workers sends a bounded
number of requests, each with a timeout. Throughput and p99 latency are printed, never asserted
(run with -s to read them); what is asserted is that every answer is a 200 with sources.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import httpx
import pytest

from ragfood.sync import sync_foods
from ragfood_vector.launcher import VectorServer
from tests.core.conftest import make_gateway
from tests.proof.conftest import as_json, serve_env

WORKERS = 32
REQUESTS = 200
TIMEOUT_S = 30.0
REGIONS = ["Vietnam", "Japan", "Mexico", "Italy", "India", "Peru", "Morocco", "Korea"]
TYPES = ["soup", "dessert", "snack", "main dish", "bread"]
DISHES = [
    {
        "id": f"dish-{n:02d}",
        "text": f"Dish {n} is a {TYPES[n % 5]} from {REGIONS[n % 8]}, cooked with spice {n * 3}.",
        "region": REGIONS[n % 8],
        "type": TYPES[n % 5],
    }
    for n in range(60)
]
_namespaces = itertools.count()


def questions(wave: str) -> list[str]:
    """REQUESTS distinct questions (so the answer cache cannot serve them), each about a dish."""
    return [
        f"Which {TYPES[n % 5]} from {REGIONS[n % 8]} is cooked with spice {(n % 60) * 3}? "
        f"({wave} {n})"
        for n in range(REQUESTS)
    ]


@dataclass
class Outcome:
    status: int
    sources: int
    cached: bool
    seconds: float


@dataclass
class Wave:
    outcomes: list[Outcome]
    seconds: float

    @property
    def throughput(self) -> float:
        return len(self.outcomes) / self.seconds

    @property
    def p99_ms(self) -> float:
        latencies = sorted(o.seconds for o in self.outcomes)
        return latencies[min(len(latencies) - 1, int(0.99 * len(latencies)))] * 1000


@pytest.fixture(scope="module")
def api(start_ask_api, vector_server: VectorServer) -> Iterator[str]:
    namespace = f"proof-load-{next(_namespaces)}"
    report = sync_foods(as_json(DISHES), make_gateway(vector_server), namespace=namespace)
    assert report.upserted == len(DISHES)
    yield start_ask_api(serve_env(vector_server, namespace, RAGFOOD_CACHE_SIZE="1024"))


def ask_all(url: str, batch: list[str]) -> Wave:
    with httpx.Client(
        base_url=url,
        timeout=TIMEOUT_S,
        limits=httpx.Limits(max_connections=WORKERS, max_keepalive_connections=WORKERS),
    ) as client:

        def ask(question: str) -> Outcome:
            started = time.perf_counter()
            response = client.post("/ask", json={"question": question})
            seconds = time.perf_counter() - started
            body = response.json() if response.status_code == 200 else {}
            return Outcome(
                response.status_code,
                len(body.get("sources", [])),
                body.get("cached", False),
                seconds,
            )

        started = time.perf_counter()
        with ThreadPoolExecutor(WORKERS) as pool:
            outcomes = list(pool.map(ask, batch))
        return Wave(outcomes, time.perf_counter() - started)


def report(name: str, wave: Wave) -> None:
    print(
        f"\n[load] {name}: {len(wave.outcomes)} asks, {WORKERS} workers: "
        f"{wave.throughput:.1f} req/s, p99 {wave.p99_ms:.0f} ms, total {wave.seconds:.2f} s"
    )


def test_200_concurrent_distinct_asks_all_answer_200_with_sources(api):
    wave = ask_all(api, questions("first"))
    report("distinct questions", wave)
    assert [o.status for o in wave.outcomes] == [200] * REQUESTS
    assert all(o.sources > 0 for o in wave.outcomes)


def test_200_concurrent_repeats_are_answered_from_the_cache(api):
    batch = questions("repeat")
    ask_all(api, batch)
    wave = ask_all(api, batch)
    report("repeated questions", wave)
    assert [(o.status, o.cached) for o in wave.outcomes] == [(200, True)] * REQUESTS
    assert all(o.sources > 0 for o in wave.outcomes)
