"""Specification of ingest under load and faults: parallel batches, live progress, Retry-After,
used-up quotas and sustained throttling. Everything goes over HTTP to the local service."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import pytest
from pydantic import SecretStr

from ragfood.errors import VectorQuotaExceeded, VectorUnavailable, VectorUnreachable
from ragfood.foods import parse_foods
from ragfood.retry import RetryPolicy, retry_after_s
from ragfood.retry_budget import RetryBudget
from ragfood.sync import sync_foods
from ragfood.vector import VectorGateway, make_client
from ragfood_vector.launcher import VectorServer
from tests.core.conftest import CountingTransport, make_gateway
from tests.support.proxy import LatencyProxy


def items(n: int, prefix: str = "d") -> list[dict]:
    return [{"id": f"{prefix}-{i}", "text": f"dish number {i}"} for i in range(n)]


def upload(rows: list[dict]) -> bytes:
    return json.dumps(rows).encode()


def test_batches_are_in_flight_at_the_same_time(vector_server: VectorServer, fresh_namespace):
    with LatencyProxy(vector_server.host, vector_server.port, rtt_ms=40) as proxy:
        client = make_client(RetryPolicy(3, 0.01, 0.05), 10.0)
        gateway = VectorGateway(
            proxy.url, SecretStr(vector_server.token), client, batch_size=50, parallelism=4
        )
        records = parse_foods(upload(items(400))).records
        assert gateway.upsert(records, namespace=fresh_namespace) == 400
    # Observed on the wire, not by the clock: one at a time would never exceed 1.
    assert proxy.max_in_flight >= 3


def test_progress_moves_as_each_batch_lands(start_vector_server, fresh_namespace):
    slow = start_vector_server(embedder="hash", latency_ms=60)
    gateway = make_gateway(slow, batch_size=50, parallelism=2)
    watcher = slow.index()
    stored_at_first_progress: list[int] = []

    def progress(stage: str, done: int, total: int) -> None:
        if stage == "upsert" and done and not stored_at_first_progress:
            counts = watcher.info().namespaces
            stored_at_first_progress.append(counts[fresh_namespace].vector_count)

    report = sync_foods(upload(items(400)), gateway, namespace=fresh_namespace, progress=progress)
    assert report.upserted == 400
    # The bar moved while most batches were still to come, not once all of them had landed.
    assert stored_at_first_progress and stored_at_first_progress[0] < 400


def test_retry_after_is_honoured(start_vector_server):
    # Seed 4: both attempts answered 429 with Retry-After: 1 (the injected sequence is seeded).
    throttled = start_vector_server(embedder="hash", fail_rate=1.0, retry_after=1, seed=4)
    gateway = make_gateway(throttled, policy=RetryPolicy(2, 0.01, 0.02))
    started = time.monotonic()
    with pytest.raises(VectorUnavailable, match="429"):
        gateway.info()
    assert time.monotonic() - started >= 0.9  # waited as asked, not 0.01 s


def test_retry_after_reads_seconds_and_http_dates_and_is_capped():
    now = datetime(2026, 11, 21, 12, 0, tzinfo=UTC)
    assert retry_after_s("7") == 7.0
    assert retry_after_s(format_datetime(now + timedelta(seconds=30), usegmt=True), now) == 30.0
    assert retry_after_s("soon") is None and retry_after_s(None) is None
    assert RetryPolicy().max_retry_after_s <= 60


def test_a_used_up_quota_fails_at_once_and_says_so(start_vector_server, fresh_namespace):
    quota = start_vector_server(embedder="hash", write_quota=2)
    transport = CountingTransport()
    gateway = make_gateway(quota, transport=transport, batch_size=10, parallelism=1)
    report = sync_foods(upload(items(50)), gateway, namespace=fresh_namespace)
    assert report.status == "failed"
    assert "quota" in report.error and "max daily request limit exceeded" in report.error
    # info, two accepted writes, the refused one: no retry was burned on it.
    assert transport.count == 4


def test_a_quota_error_is_not_a_transient_one():
    with pytest.raises(VectorQuotaExceeded):
        RetryBudget(60)(lambda: (_ for _ in ()).throw(VectorQuotaExceeded("ERR max requests")))


def test_sustained_throttling_does_not_fail_a_large_ingest(start_vector_server, fresh_namespace):
    """30 % of answers are 429/503 and each request has only 2 attempts: 1 batch in 11 fails
    all of them, so 60 batches almost never all land (0.91^60 < 0.4 %) without the ingest-wide
    retry budget, which retries those batches."""
    flaky = start_vector_server(embedder="hash", fail_rate=0.3, seed=11)
    gateway = make_gateway(flaky, policy=RetryPolicy(2, 0.01, 0.02), batch_size=50)
    report = sync_foods(upload(items(3000)), gateway, namespace=fresh_namespace, budget_s=120)
    assert (report.status, report.upserted) == ("ok", 3000)
    assert len(make_gateway(flaky).stored_hashes(fresh_namespace)) == 3000


def test_an_index_that_answers_nothing_but_errors_stops_the_ingest_long_before_its_budget(
    start_vector_server, fresh_namespace
):
    # Sustained throttling slows an ingest down (above); an index failing every request for
    # `stall_s` in a row is down, and the user hears so then, not when 10 minutes are up.
    failing = start_vector_server(embedder="hash", fail_rate=1.0, seed=5)
    gateway = make_gateway(failing, policy=RetryPolicy(2, 0.01, 0.02))
    started = time.monotonic()
    with pytest.raises(VectorUnavailable, match="no request has succeeded for 2 s") as raised:
        sync_foods(upload(items(10)), gateway, namespace=fresh_namespace, budget_s=600, stall_s=2)
    assert time.monotonic() - started < 300  # generous: far from the 600 s budget
    assert "after retries" in str(raised.value)  # and what the index answered


def test_the_stall_rule_counts_from_the_first_failure_since_the_last_success():
    now = [0.0]
    budget = RetryBudget(600, pause_s=1, stall_s=10, clock=lambda: now[0], sleep=lambda s: None)
    outcomes = iter([False] * 3 + [True] + [False] * 100)

    def sometimes() -> None:
        now[0] += 3  # each attempt takes 3 s
        if not next(outcomes):
            raise VectorUnavailable("vector index answered HTTP 503 after retries", 503)

    budget(sometimes)  # fails 9 s, then succeeds: never stalled
    now[0] += 100  # a long quiet time between operations is no stall either
    with pytest.raises(VectorUnavailable, match="no request has succeeded for 10 s"):
        budget(sometimes)
    assert now[0] < 130


def test_the_retry_budget_ends_and_names_itself():
    clock = iter(range(0, 1000, 5)).__next__
    budget = RetryBudget(20, pause_s=1, clock=lambda: float(clock()), sleep=lambda _s: None)

    def failing() -> None:
        raise VectorUnavailable("vector index answered HTTP 503 after retries", 503)

    with pytest.raises(VectorUnavailable, match="20 s retry budget ran out"):
        budget(failing)
    assert budget.retries >= 1


def test_an_index_unreachable_until_the_budget_ends_is_still_reported_unreachable():
    # The CLI tells the user to start the index or check its URL only for this kind of failure.
    clock = iter(range(0, 1000, 5)).__next__
    budget = RetryBudget(20, pause_s=1, clock=lambda: float(clock()), sleep=lambda _s: None)

    def refused() -> None:
        raise VectorUnreachable("cannot reach vector index at db: connection refused")

    with pytest.raises(VectorUnreachable, match="20 s retry budget ran out"):
        budget(refused)
