"""Proof: the functions hold up when their dependencies fail.

- A flaky vector service (30% of requests answered 429/503, 30 ms latency): a 1,000-item upload
  through the REAL ingest handler still lands exactly, and a re-run writes nothing.
- A generator that is down, slow, talking garbage or failing: ask still answers 200 from sources.
- A vector service that is down or always failing: ask answers 503 naming it, after a bounded
  number of attempts; ingest raises so Lambda retries, and the retry lands without duplicates.

Nothing here asserts on wall-clock time; bounds are proven by counting requests on the wire.
"""

from __future__ import annotations

import json
import math
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, SimpleHTTPRequestHandler
from typing import Any

import httpx
import pytest

from ragfood.errors import VectorError, VectorUnavailable
from ragfood.foods import MAX_TEXT_BYTES
from ragfood.retry import RetryPolicy
from ragfood.transport import StdlibTransport
from ragfood_vector.launcher import VectorServer, free_port
from tests.core.conftest import make_gateway
from tests.functions.conftest import load_event
from tests.proof.conftest import LEAK_MARKERS, as_json, put_upload, report_in_bucket
from tests.support.peer import serving
from tests.support.samples import FEIJOADA, MOCHI
from tests.support.trickle_proxy import TrickleProxy

UPLOAD_EVENT = load_event("s3-put-foods.json")
ASK_EVENT = load_event("api-ask.json")  # "Which Vietnamese soup is made with beef broth...?"
PATIENT = RetryPolicy(max_attempts=10, initial_s=0.01, max_s=0.05)  # for the checking client
FLAKY_INGEST_ENV = {
    "RAGFOOD_RETRY_INITIAL_S": "0.01",
    "RAGFOOD_RETRY_MAX_S": "0.1",
    "RAGFOOD_MAX_ATTEMPTS": "8",
    "RAGFOOD_BATCH_SIZE": "100",
}
REGIONS = ["Vietnam", "Japan", "Mexico", "Italy", "India", "Peru", "Morocco", "Korea"]
TYPES = ["soup", "dessert", "snack", "main dish", "bread"]
BASE = [
    {
        "id": "pho",
        "text": "Pho is a Vietnamese noodle soup with beef broth and rice noodles.",
        "region": "Vietnam",
        "type": "soup",
    },
    MOCHI,
    FEIJOADA,
]


def generated_items(count: int) -> list[dict[str, Any]]:
    return [
        {
            "id": f"dish-{n:04d}",
            "text": f"Dish {n} is a {TYPES[n % 5]} from {REGIONS[n % 8]} with ingredient {n * 7}.",
            "region": REGIONS[n % 8],
            "type": TYPES[n % 5],
        }
        for n in range(count)
    ]


# Planted among the 1,000 valid items: (position in the file, item, the report's reason).
PLANTED = [
    (100, {"id": "no-text", "region": "Peru"}, "missing field 'text'"),
    (
        250,
        {"id": 250, "text": "A numeric id."},
        "field 'id' must be a non-empty string, got a number (250)",
    ),
    (
        400,
        {"id": "dish-0000", "text": "A second dish-0000."},
        "duplicate id (first seen at item 0)",
    ),
    (
        600,
        {"id": "too-long", "text": "x" * (MAX_TEXT_BYTES + 1)},
        f"field 'text' is {MAX_TEXT_BYTES + 1} bytes; limit {MAX_TEXT_BYTES}",
    ),
    (
        800,
        {"id": "nan", "text": "Not a number.", "kcal": math.nan},
        "field 'kcal' is NaN or Infinity, not allowed in JSON",
    ),
]


def thousand_items_with_planted_rejects() -> bytes:
    items: list[dict[str, Any]] = generated_items(1000)
    for position, item, _ in PLANTED:
        items.insert(position, item)
    return json.dumps(items).encode()  # NaN is written as the bare literal a broken export makes


def expected_rejects() -> list[dict[str, Any]]:
    return [
        {"index": position, "id": item["id"] if isinstance(item["id"], str) else None, "reason": r}
        for position, item, r in PLANTED
    ]


@pytest.fixture
def flaky_index(start_vector_server) -> VectorServer:
    return start_vector_server(embedder="hash", fail_rate=0.3, latency_ms=30, seed=1)


@pytest.fixture
def flaky_ingest(s3, function, flaky_index, fresh_namespace):
    put_upload(s3, thousand_items_with_planted_rejects())
    return function(
        "ingest",
        UPSTASH_VECTOR_REST_URL=flaky_index.url,
        RAGFOOD_NAMESPACE=fresh_namespace,
        **FLAKY_INGEST_ENV,
    )


def test_flaky_index_still_gets_every_valid_item_of_a_1000_item_upload(
    flaky_ingest, flaky_index, fresh_namespace
):
    (report,) = flaky_ingest.invoke(UPLOAD_EVENT)["reports"]
    assert (report["status"], report["items"], report["upserted"]) == ("partial", 1005, 1000)
    assert report["rejected"] == expected_rejects()
    checker = make_gateway(flaky_index, policy=PATIENT)
    stored = checker.stored_hashes(fresh_namespace)
    assert set(stored) == {item["id"] for item in generated_items(1000)}
    assert checker.info().namespaces[fresh_namespace] == 1000


def test_rerun_of_the_same_upload_against_a_flaky_index_writes_nothing(flaky_ingest):
    flaky_ingest.invoke(UPLOAD_EVENT)
    (again,) = flaky_ingest.invoke(UPLOAD_EVENT)["reports"]
    assert (again["upserted"], again["unchanged"], again["deleted"]) == (0, 1000, 0)


def closed_port_url() -> str:
    return f"http://127.0.0.1:{free_port()}"


@pytest.fixture
def indexed_namespace(vector_server: VectorServer, fresh_namespace: str) -> str:
    from ragfood.sync import sync_foods

    sync_foods(as_json(BASE), make_gateway(vector_server), namespace=fresh_namespace)
    return fresh_namespace


@pytest.mark.parametrize(
    ("failure", "reason"),
    [
        ("down", "cannot reach generator"),
        ("slow", "did not answer in time"),
        ("garbage", "not JSON"),
        ("fail", "HTTP 500"),
    ],
)
def test_failing_generator_degrades_to_a_sourced_answer_never_an_error(
    function, stub, indexed_namespace, failure, reason
):
    env = {"RAGFOOD_NAMESPACE": indexed_namespace, "GENERATOR_URL": stub.url}
    if failure == "down":
        env["GENERATOR_URL"] = closed_port_url()
    elif failure == "slow":
        stub.state.delay_s, env["GENERATOR_TIMEOUT_S"] = 1.0, "0.3"
    else:
        stub.state.mode = failure
    response = function("ask", **env).invoke(ASK_EVENT)
    assert response["statusCode"] == 200
    answer = json.loads(response["body"])
    assert answer["degraded"] is True and reason in answer["reason"]
    assert answer["sources"] and answer["sources"][0]["id"] == "pho"
    assert answer["sources"][0]["text"] in answer["answer"]


def test_ask_answers_503_naming_the_vector_index_when_the_service_is_down(
    function, start_vector_server, fresh_namespace
):
    index = start_vector_server(embedder="hash")
    index.kill()  # as a crash would
    ask = function(
        "ask",
        UPSTASH_VECTOR_REST_URL=index.url,
        RAGFOOD_NAMESPACE=fresh_namespace,
        RAGFOOD_MAX_ATTEMPTS="2",
    )
    response = ask.invoke(ASK_EVENT)
    assert not any(marker in response["body"] for marker in LEAK_MARKERS)
    assert response["statusCode"] == 503
    error = json.loads(response["body"])
    assert error["dependency"] == "vector-index" and "cannot reach" in error["error"]


def test_ingest_raises_while_the_index_is_down_and_the_retry_indexes_each_item_once(
    s3, function, start_vector_server, fresh_namespace
):
    index = start_vector_server(embedder="hash")
    env = {
        "UPSTASH_VECTOR_REST_URL": index.url,
        "RAGFOOD_NAMESPACE": fresh_namespace,
        "RAGFOOD_MAX_ATTEMPTS": "2",
    }
    put_upload(s3, as_json(BASE))
    function("ingest", **env).invoke(UPLOAD_EVENT)
    grown = [*BASE, *generated_items(20)]
    put_upload(s3, as_json(grown))
    index.kill()
    with pytest.raises(VectorUnavailable):  # raised, so that Lambda retries the event
        function("ingest", **env).invoke(UPLOAD_EVENT)
    index.restart()
    (report,) = function("ingest", **env).invoke(UPLOAD_EVENT)["reports"]
    assert (report["upserted"], report["unchanged"]) == (20, len(BASE))
    assert index.index().info().namespaces[fresh_namespace].vector_count == len(grown)


def finished_within(seconds: float, call: Callable[[], Any]) -> Any:
    """call()'s result, or a failure when it is still running after `seconds`."""
    outcome: dict[str, Any] = {}

    def run() -> None:
        try:
            outcome["result"] = call()
        except Exception as exc:  # handed to the test below
            outcome["error"] = exc

    worker = threading.Thread(target=run, daemon=True)
    worker.start()
    worker.join(seconds)
    assert not worker.is_alive(), f"still waiting after {seconds:.0f} s"
    if "error" in outcome:
        raise outcome["error"]
    return outcome["result"]


def test_an_index_answer_that_trickles_forever_is_given_up_then_retried(
    s3, function, vector_server, fresh_namespace
):
    # Each read gets a byte before its read timeout: only a bound on the whole answer ends it.
    put_upload(s3, as_json(BASE))
    with TrickleProxy(vector_server.url, trickled=1, interval_s=0.2) as proxy:
        ingest = function(
            "ingest",
            UPSTASH_VECTOR_REST_URL=proxy.url,
            RAGFOOD_NAMESPACE=fresh_namespace,
            RAGFOOD_VECTOR_WRITE_TIMEOUT_S="1",
        )
        (report,) = finished_within(60, lambda: ingest.invoke(UPLOAD_EVENT))["reports"]
        assert proxy.requests > proxy.trickled  # the trickled request was tried again
    assert (report["status"], report["upserted"]) == ("ok", len(BASE))
    assert vector_server.index().info().namespaces[fresh_namespace].vector_count == len(BASE)


def test_pauses_an_index_asks_for_never_keep_an_ingest_past_its_function_timeout(
    s3, function, start_vector_server, fresh_namespace
):
    # Every request answered 429 "Retry-After: 20" or 503: each request's own attempts would
    # sleep far past a 20 s function; the ingest's time budget bounds them too.
    throttled = start_vector_server(embedder="hash", fail_rate=1.0, retry_after=20, seed=3)
    put_upload(s3, as_json(BASE))
    ingest = function(
        "ingest", UPSTASH_VECTOR_REST_URL=throttled.url, RAGFOOD_NAMESPACE=fresh_namespace
    )
    ingest.timeout_s = 20.0  # the function's Timeout: Lambda stops it there, report unwritten
    with pytest.raises(VectorUnavailable) as raised:
        finished_within(ingest.timeout_s, lambda: ingest.invoke(UPLOAD_EVENT))
    assert "retry budget ran out" in str(raised.value)
    assert report_in_bucket(s3)["status"] == "failed"


class _EchoingFailure(BaseHTTPRequestHandler):
    """A broken gateway in front of the index: answers 500 with the request's headers."""

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        who = self.headers.get("Authorization")
        body = f"<html><pre>upstream refused {who}\n{self.headers}</pre></html>".encode()
        self.send_response(500)
        self.send_header("Content-Type", "text/html")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_POST

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def echoing_index() -> Iterator[str]:
    with serving(_EchoingFailure) as url:
        yield url


def test_a_token_echoed_back_by_a_failing_peer_is_never_repeated(
    s3, function, vector_server, echoing_index, fresh_namespace, capsys
):
    env = {
        "UPSTASH_VECTOR_REST_URL": echoing_index,
        "RAGFOOD_NAMESPACE": fresh_namespace,
        "RAGFOOD_MAX_ATTEMPTS": "2",
    }
    put_upload(s3, as_json(BASE))
    ingest = function("ingest", **env)
    ingest.timeout_s = 16.0  # a short Lambda: its retry budget runs out in a few seconds
    with pytest.raises(VectorUnavailable) as raised:
        ingest.invoke(UPLOAD_EVENT)
    response = function("ask", **env, RAGFOOD_RETRIEVAL="dense").invoke(ASK_EVENT)
    logged = capsys.readouterr()
    assert "HTTP 500" in str(raised.value) and response["statusCode"] == 503
    for seen in (str(raised.value), response["body"], logged.out, logged.err):
        for token in (vector_server.token, vector_server.readonly_token):
            assert token[:12] not in seen  # not even the start of one, cut off by a length cap


def test_a_url_that_is_not_an_index_is_reported_at_once_not_retried(s3, function, fresh_namespace):
    # A plain web server where the index should be: it answers POST with "501 Unsupported
    # method", which no retry can change.
    seen: list[str] = []

    class NotAnIndex(SimpleHTTPRequestHandler):
        def do_POST(self) -> None:
            seen.append(self.path)
            self.send_error(501, "Unsupported method ('POST')")  # as it answers unaided

        def log_message(self, *args: Any) -> None:
            pass

    put_upload(s3, as_json(BASE))
    with serving(NotAnIndex) as url:
        ingest = function("ingest", UPSTASH_VECTOR_REST_URL=url, RAGFOOD_NAMESPACE=fresh_namespace)
        with pytest.raises(VectorError) as raised:
            ingest.invoke(UPLOAD_EVENT)
    assert "HTTP 501" in str(raised.value) and "UPSTASH_VECTOR_REST_URL" in str(raised.value)
    assert len(seen) == 1
    assert "HTTP 501" in report_in_bucket(s3)["error"]


@pytest.fixture
def wire_requests(monkeypatch) -> dict[tuple[int, str], int]:
    """(port, path) -> HTTP requests this process put on the wire (retries included)."""
    counts: dict[tuple[int, str], int] = {}
    real = StdlibTransport.handle_request

    def counting(self: StdlibTransport, request: httpx.Request) -> httpx.Response:
        key = (request.url.port or 0, request.url.path)
        counts[key] = counts.get(key, 0) + 1
        return real(self, request)

    monkeypatch.setattr(StdlibTransport, "handle_request", counting)
    return counts


def test_always_failing_index_gets_503_after_exactly_the_configured_attempts(
    function, start_vector_server, fresh_namespace, wire_requests
):
    index = start_vector_server(embedder="hash", fail_rate=1.0)
    ask = function(
        "ask",
        UPSTASH_VECTOR_REST_URL=index.url,
        RAGFOOD_NAMESPACE=fresh_namespace,
        RAGFOOD_MAX_ATTEMPTS="3",
        # Pinned: in "auto" the container's first request is the index-kind probe (info()),
        # retried the same way; this test counts the query's attempts.
        RAGFOOD_RETRIEVAL="dense",
    )
    response = ask.invoke(ASK_EVENT)
    assert response["statusCode"] == 503
    error = json.loads(response["body"])
    assert error["dependency"] == "vector-index" and "after retries" in error["error"]
    queries = {  # /health is the launcher's readiness probe, not the function's
        path: n for (port, path), n in wire_requests.items() if port == index.port
    }
    queries.pop("/health", None)
    assert queries == {f"/query-data/{fresh_namespace}": 3}
