"""Fault injection: seeded 429/503 answers given before any work, and added latency."""

from __future__ import annotations

import time
from collections.abc import Callable

import httpx

from ragfood_vector.launcher import VectorServer

Vec = Callable[..., list[float]]
StartServer = Callable[..., VectorServer]


def statuses(server: VectorServer, count: int) -> list[int]:
    headers = {"Authorization": f"Bearer {server.token}"}
    with httpx.Client(headers=headers) as client:
        return [client.post(f"{server.url}/info").status_code for _ in range(count)]


def test_a_fail_rate_yields_both_failures_and_successes(start_vector_server: StartServer) -> None:
    server = start_vector_server(fail_rate=0.5, seed=3)

    seen = set(statuses(server, 40))

    assert 200 in seen and seen & {429, 503} and seen <= {200, 429, 503}


def test_the_same_seed_fails_the_same_requests(start_vector_server: StartServer) -> None:
    server = start_vector_server(fail_rate=0.5, seed=11)
    first = statuses(server, 30)

    server.restart()

    assert statuses(server, 30) == first


def test_injected_failures_answer_in_upstash_error_shape_without_retry_after(
    start_vector_server: StartServer,
) -> None:
    server = start_vector_server(fail_rate=1.0)
    headers = {"Authorization": f"Bearer {server.token}"}

    responses = [httpx.post(f"{server.url}/info", headers=headers) for _ in range(10)]

    bodies = {(r.status_code, r.json()["error"], r.json()["status"]) for r in responses}
    assert bodies <= {(429, "Too many requests", 429), (503, "Service unavailable", 503)}
    assert all("retry-after" not in r.headers for r in responses)


def test_a_failed_write_changes_nothing(start_vector_server: StartServer, vec: Vec) -> None:
    server = start_vector_server(fail_rate=0.5, seed=5)
    headers = {"Authorization": f"Bearer {server.token}"}
    with httpx.Client(headers=headers) as client:
        accepted = sum(
            client.post(f"{server.url}/upsert", json={"id": f"v{i}", "vector": vec(1)}).status_code
            == 200
            for i in range(30)
        )
        while (info := client.post(f"{server.url}/info")).status_code != 200:
            pass

    assert 0 < accepted < 30
    assert info.json()["result"]["vectorCount"] == accepted


def test_latency_is_added_to_every_request(start_vector_server: StartServer) -> None:
    server = start_vector_server(latency_ms=200)

    started = time.monotonic()
    statuses(server, 1)

    assert time.monotonic() - started >= 0.2
