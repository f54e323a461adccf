"""Specification of the vector gateway, through the real SDK and the local vector service."""

from __future__ import annotations

import json

import httpx
import pytest
from pydantic import SecretStr

from ragfood.errors import (
    VectorAuthError,
    VectorIndexMisconfigured,
    VectorRequestError,
    VectorUnavailable,
)
from ragfood.foods import parse_foods
from ragfood.retry import RetryPolicy
from ragfood.transport import StdlibTransport
from ragfood.vector import VectorGateway, build_filter, make_client, quote_literal
from ragfood_vector.launcher import VectorServer, free_port
from tests.core.conftest import CountingTransport, make_gateway

FOODS = [
    {
        "id": "pho",
        "text": "Pho is a Vietnamese noodle soup with beef broth.",
        "region": "Vietnam",
        "type": "soup",
    },
    {
        "id": "tiramisu",
        "text": "Tiramisu is a coffee-flavoured dessert.",
        "region": "Italy",
        "type": "dessert",
    },
    {"id": "ramen", "text": "Ramen is a Japanese noodle soup.", "region": "Japan", "type": "soup"},
    {
        "id": "mochi",
        "text": "Mochi is a Japanese rice cake dessert.",
        "region": "Japan",
        "type": "dessert",
    },
]


def records(items=FOODS):
    return parse_foods(json.dumps(items).encode()).records


def test_upserted_records_are_found_by_their_text(gateway: VectorGateway, fresh_namespace: str):
    gateway.upsert(records(), namespace=fresh_namespace, source="test")
    hits = gateway.query("Vietnamese noodle soup beef broth", namespace=fresh_namespace, top_k=2)
    assert hits[0].id == "pho"
    assert hits[0].text == FOODS[0]["text"]
    assert (hits[0].region, hits[0].type) == ("Vietnam", "soup")
    assert hits[0].score >= hits[1].score


def test_min_score_drops_weak_hits(gateway: VectorGateway, fresh_namespace: str):
    gateway.upsert(records(), namespace=fresh_namespace)
    assert gateway.query("noodle soup", namespace=fresh_namespace, min_score=0.999) == []


def test_region_filter_is_case_insensitive(gateway: VectorGateway, fresh_namespace: str):
    gateway.upsert(records(), namespace=fresh_namespace)
    hits = gateway.query(
        "dessert", namespace=fresh_namespace, top_k=10, filter_=build_filter("JAPAN", None)
    )
    assert {h.id for h in hits} == {"ramen", "mochi"}


def test_region_and_type_filters_combine(gateway: VectorGateway, fresh_namespace: str):
    gateway.upsert(records(), namespace=fresh_namespace)
    hits = gateway.query(
        "food", namespace=fresh_namespace, top_k=10, filter_=build_filter("japan", "dessert")
    )
    assert [h.id for h in hits] == ["mochi"]


@pytest.mark.parametrize(
    "hostile",
    ["x' OR region_key != 'nothing", 'x" OR 1 = 1 OR "', "japan') OR (type_key HAS FIELD"],
)
def test_quotes_in_filter_values_cannot_escape_the_literal(
    gateway: VectorGateway, fresh_namespace: str, hostile: str
):
    gateway.upsert(records(), namespace=fresh_namespace)
    try:
        filter_ = build_filter(hostile, None)
    except ValueError:
        return  # refused outright: also safe
    assert gateway.query("food", namespace=fresh_namespace, top_k=10, filter_=filter_) == []


def test_values_with_both_quote_kinds_or_backslashes_are_refused():
    with pytest.raises(ValueError, match="region: must not contain both"):
        build_filter("a'b\"c", None)
    with pytest.raises(ValueError, match="backslash"):
        quote_literal("a\\")


def test_stored_hashes_lists_every_vector_across_pages(
    vector_server: VectorServer, fresh_namespace: str
):
    items = [{"id": f"item-{i:04d}", "text": f"food number {i}"} for i in range(2300)]
    gateway = make_gateway(vector_server, batch_size=1000)
    recs = records(items)
    gateway.upsert(recs, namespace=fresh_namespace)
    assert gateway.stored_hashes(fresh_namespace) == {r.id: r.hash for r in recs}


def test_delete_removes_exactly_the_given_ids(gateway: VectorGateway, fresh_namespace: str):
    gateway.upsert(records(), namespace=fresh_namespace)
    assert gateway.delete(["pho", "ramen"], namespace=fresh_namespace) == 2
    assert set(gateway.stored_hashes(fresh_namespace)) == {"tiramisu", "mochi"}


def test_namespaces_are_isolated(gateway: VectorGateway, fresh_namespace: str):
    gateway.upsert(records(), namespace=fresh_namespace)
    assert gateway.query("noodle soup", namespace=fresh_namespace + "-other") == []


def test_batches_are_sent_in_parallel_and_all_arrive(
    vector_server: VectorServer, fresh_namespace: str
):
    transport = CountingTransport()
    gateway = make_gateway(vector_server, transport=transport, batch_size=100, parallelism=4)
    items = [{"id": f"p-{i}", "text": f"dish {i}"} for i in range(1000)]
    assert gateway.upsert(records(items), namespace=fresh_namespace) == 1000
    assert transport.count == 10
    assert len(gateway.stored_hashes(fresh_namespace)) == 1000


def test_transient_failures_are_retried_until_the_write_lands(start_vector_server):
    flaky = start_vector_server(embedder="hash", fail_rate=0.3, seed=7)
    transport = CountingTransport()
    gateway = make_gateway(flaky, transport=transport, batch_size=50)
    items = [{"id": f"f-{i}", "text": f"dish {i}"} for i in range(500)]
    assert gateway.upsert(records(items), namespace="flaky") == 500
    assert transport.count > 10  # some batches needed more than one attempt
    assert len(make_gateway(flaky).stored_hashes("flaky")) == 500


def test_persistent_failure_is_reported_after_bounded_retries(start_vector_server):
    broken = start_vector_server(embedder="hash", fail_rate=1.0)
    transport = CountingTransport()
    gateway = make_gateway(broken, transport=transport, policy=RetryPolicy(3, 0.01, 0.02))
    with pytest.raises(VectorUnavailable, match=r"answered HTTP (429|503) after retries"):
        gateway.query("anything")
    assert transport.count == 3


def test_refused_connection_is_unavailable():
    client = make_client(RetryPolicy(2, 0.01, 0.02), 2.0)
    gateway = VectorGateway(f"http://127.0.0.1:{free_port()}", SecretStr("t"), client)
    with pytest.raises(VectorUnavailable, match="connection refused"):
        gateway.query("anything")


def test_wrong_token_is_an_auth_error_without_the_token(vector_server: VectorServer):
    client = make_client(RetryPolicy(3, 0.01, 0.02), 5.0)
    gateway = VectorGateway(vector_server.url, SecretStr("wrong-secret-xyz"), client)
    with pytest.raises(VectorAuthError, match="401") as info:
        gateway.query("anything")
    assert "wrong-secret-xyz" not in str(info.value)


def test_read_only_token_cannot_write(vector_server: VectorServer, fresh_namespace: str):
    gateway = make_gateway(vector_server, write=False)
    with pytest.raises(VectorAuthError, match="read-write token"):
        gateway.upsert(records(), namespace=fresh_namespace)


def test_index_without_embedding_model_is_named_plainly(start_vector_server):
    server = start_vector_server(embedder="none")
    with pytest.raises(VectorIndexMisconfigured, match="has no embedding model"):
        make_gateway(server).upsert(records())


def test_info_reports_dimension_and_model(gateway: VectorGateway, fresh_namespace: str):
    gateway.upsert(records(), namespace=fresh_namespace)
    info = gateway.info()
    assert info.dimension == 384
    assert info.embedding_model and "hash" in info.embedding_model
    assert info.namespaces[fresh_namespace] == 4


def test_write_probe_passes_with_the_read_write_token(gateway: VectorGateway):
    gateway.check_write_access()


def test_bad_request_is_not_retried(vector_server: VectorServer, fresh_namespace: str):
    transport = CountingTransport()
    gateway = make_gateway(vector_server, transport=transport)
    with pytest.raises(VectorRequestError):
        gateway.query("x", namespace=fresh_namespace, filter_="region_key = = 'x'")
    assert transport.count == 1


class RecordingTransport(StdlibTransport):
    """A real HTTP transport that keeps the requests it sends."""

    def __init__(self) -> None:
        super().__init__()
        self.requests: list[httpx.Request] = []

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        return super().handle_request(request)


def test_upsert_bodies_are_compact_utf8_json_written_without_the_stdlib_encoder(
    vector_server: VectorServer, fresh_namespace: str, monkeypatch
):
    """Bodies are written by pydantic-core (2.5x faster), byte for byte the JSON httpx's own
    encoder would write; httpx's encoder is never used."""

    def stdlib_encoder(*args: object, **kwargs: object) -> str:
        raise AssertionError("httpx encoded a body with the standard library")

    monkeypatch.setattr(httpx._content, "json_dumps", stdlib_encoder)
    wire = RecordingTransport()
    gateway = make_gateway(vector_server, transport=wire)
    items = [*FOODS, {"id": "crème", "text": 'Crème brûlée: "burnt" cream 🍮.', "kcal": 1.5}]
    assert gateway.upsert(records(items), namespace=fresh_namespace, source="f.json") == 5
    [upsert] = [r for r in wire.requests if r.url.path.startswith("/upsert-data")]
    assert upsert.headers["content-type"] == "application/json"
    body = json.loads(upsert.content)
    assert upsert.content == json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode()
    assert body[-1]["data"].startswith("Crème brûlée") and body[-1]["metadata"]["kcal"] == 1.5
    assert gateway.query("burnt cream", namespace=fresh_namespace, top_k=1)[0].id == "crème"


def test_a_404_the_index_words_in_json_is_said_as_it_is_not_as_a_wrong_url(
    gateway: VectorGateway,
):
    # Upstash answers 404 with its JSON error for a namespace that does not exist; only a web
    # server or proxy where the index should be gets the UPSTASH_VECTOR_REST_URL hint.
    with pytest.raises(VectorRequestError) as raised:
        gateway._index.delete_namespace("ragfood-no-such-namespace")
    assert raised.value.status == 404 and "does not exist" in str(raised.value)
    assert "UPSTASH_VECTOR_REST_URL" not in str(raised.value)
