"""Specification of the ask function, invoked with the API Gateway events in events/."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from ragfood.sync import sync_foods
from ragfood_vector.launcher import VectorServer, free_port
from tests.core.conftest import make_gateway
from tests.functions.conftest import load_event
from tests.support.generator_stub import GeneratorStub
from tests.support.samples import GAZPACHO, MOCHI

FOODS = [
    {
        "id": "pho",
        "text": "Pho is a Vietnamese soup of rice noodles in beef broth.",
        "region": "Vietnam",
        "type": "soup",
    },
    GAZPACHO,
    MOCHI,
]


@pytest.fixture
def indexed(vector_server: VectorServer, clean_index) -> None:
    sync_foods(json.dumps(FOODS).encode(), make_gateway(vector_server))


@pytest.fixture(scope="module")
def stub() -> Iterator[GeneratorStub]:
    with GeneratorStub() as server:
        yield server


def body(response: dict) -> dict:
    return json.loads(response["body"])


def with_body(event: dict, payload: dict | str) -> dict:
    return {**event, "body": payload if isinstance(payload, str) else json.dumps(payload)}


def test_ask_event_returns_a_sourced_answer(indexed, function):
    response = function("ask").invoke(load_event("api-ask.json"))
    assert response["statusCode"] == 200
    answer = body(response)
    assert answer["sources"][0]["id"] == "pho"
    assert set(answer["sources"][0]) == {"id", "text", "region", "type", "score"}
    assert answer["generator"]["kind"] == "extractive" and answer["degraded"] is False
    assert answer["answer"].startswith("No generator is configured")
    assert set(answer) >= {"answer", "sources", "generator", "degraded", "timings_ms"}


def test_configured_generator_answers(indexed, function, stub):
    response = function("ask", GENERATOR_URL=stub.url).invoke(load_event("api-ask.json"))
    answer = body(response)
    assert answer["generator"] == {"kind": "ollama", "model": "llama3.2"}
    assert answer["answer"].startswith("According to the knowledge base, Pho")


def test_failing_generator_degrades_with_sources_not_an_error(indexed, function, stub):
    stub.state.mode = "fail"
    try:
        response = function("ask", GENERATOR_URL=stub.url).invoke(load_event("api-ask.json"))
    finally:
        stub.reset()
    assert response["statusCode"] == 200
    assert body(response)["degraded"] is True and body(response)["sources"]


def test_invalid_ask_event_gets_422_naming_each_field(indexed, function):
    response = function("ask").invoke(load_event("api-ask-invalid.json"))
    assert response["statusCode"] == 422
    error = body(response)
    assert {d["field"] for d in error["details"]} == {"question", "top_k"}
    assert "Traceback" not in response["body"]


def test_health_event_answers_ok(function):
    response = function("ask").invoke(load_event("api-health.json"))
    assert response["statusCode"] == 200 and body(response)["status"] == "ok"


def test_openapi_document_is_served(function):
    event = load_event("api-health.json")
    event = {**event, "path": "/openapi.json", "resource": "/openapi.json"}
    response = function("ask").invoke(event)
    assert response["statusCode"] == 200 and "/ask" in body(response)["paths"]


def test_openapi_document_describes_every_error_response(function):
    event = load_event("api-health.json")
    event = {**event, "path": "/openapi.json", "resource": "/openapi.json"}
    document = body(function("ask").invoke(event))
    assert "ErrorBody" in document["components"]["schemas"]
    for path in ("/ask", "/ask/stream"):
        responses = document["paths"][path]["post"]["responses"]
        for status in ("422", "502", "503", "504"):
            schema = responses[status]["content"]["application/json"]["schema"]
            assert schema == {"$ref": "#/components/schemas/ErrorBody"}, (path, status)


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ("{not json", "body"),
        ({"question": "x" * 2001}, "question"),
        ({"question": "pho", "top_k": 0}, "top_k"),
        ({"question": "pho", "min_score": 2}, "min_score"),
        ({"question": "pho", "colour": "red"}, "colour"),
        ({"question": 42}, "question"),
    ],
)
def test_client_mistakes_get_4xx_naming_the_field(indexed, function, payload, field):
    response = function("ask").invoke(with_body(load_event("api-ask.json"), payload))
    assert response["statusCode"] == 422
    assert field in body(response)["error"]


def test_filter_value_with_quotes_is_refused_cleanly(indexed, function):
    payload = {"question": "soup", "region": "a'b\"c"}
    response = function("ask").invoke(with_body(load_event("api-ask.json"), payload))
    assert response["statusCode"] == 422 and "region" in body(response)["error"]


def test_region_filter_narrows_sources(indexed, function):
    payload = {"question": "soup", "region": "spain", "min_score": 0}
    response = function("ask").invoke(with_body(load_event("api-ask.json"), payload))
    assert [s["id"] for s in body(response)["sources"]] == ["gazpacho"]


def test_unreachable_index_is_503_naming_the_dependency(function):
    down = function(
        "ask", UPSTASH_VECTOR_REST_URL=f"http://127.0.0.1:{free_port()}", RAGFOOD_MAX_ATTEMPTS="2"
    )
    response = down.invoke(load_event("api-ask.json"))
    assert response["statusCode"] == 503
    assert body(response)["dependency"] == "vector-index"
    assert "Traceback" not in response["body"]


def test_missing_configuration_is_503_without_secrets(function):
    response = function("ask", UPSTASH_VECTOR_REST_URL="").invoke(load_event("api-ask.json"))
    assert response["statusCode"] == 503
    assert "UPSTASH_VECTOR_REST_URL" in body(response)["error"]


def test_read_only_token_is_what_the_ask_function_uses(indexed, function, vector_server):
    # With only the read-only token the function answers: it never needs write access.
    response = function("ask", UPSTASH_VECTOR_REST_TOKEN="").invoke(load_event("api-ask.json"))
    assert response["statusCode"] == 200


def test_tenant_upload_is_invisible_to_another_tenants_questions(
    vector_server, clean_index, function
):
    sync_foods(json.dumps(FOODS[:1]).encode(), make_gateway(vector_server), namespace="acme")
    globex = function("ask", RAGFOOD_NAMESPACE="globex").invoke(load_event("api-ask.json"))
    acme = function("ask", RAGFOOD_NAMESPACE="acme").invoke(load_event("api-ask.json"))
    assert body(globex)["sources"] == []
    assert [s["id"] for s in body(acme)["sources"]] == ["pho"]


def test_docs_page_links_to_the_openapi_document_under_the_stage(function):
    event = {**load_event("api-health.json"), "path": "/docs", "resource": "/docs"}
    response = function("ask", RAGFOOD_API_ROOT_PATH="/v1").invoke(event)
    assert response["statusCode"] == 200
    assert "'/v1/openapi.json'" in response["body"] or '"/v1/openapi.json"' in response["body"]


def _emf_metric_names(stdout: str) -> set[str]:
    blobs = [json.loads(line) for line in stdout.splitlines() if '"_aws"' in line]
    return {
        metric["Name"]
        for blob in blobs
        for directive in blob["_aws"]["CloudWatchMetrics"]
        for metric in directive["Metrics"]
    }


def test_answers_publish_latency_per_stage_as_metrics(indexed, function, capsys):
    """Without the X-Ray SDK, per-stage latency reaches CloudWatch as EMF metrics."""
    ask = function("ask", AWS_LAMBDA_FUNCTION_NAME="ragfood-ask")
    assert ask.invoke(load_event("api-ask.json"))["statusCode"] == 200
    names = _emf_metric_names(capsys.readouterr().out)
    assert {"AskRetrieveMs", "AskTotalMs", "AskDegraded", "AskCacheHit"} <= names
    # A request that records nothing publishes nothing (and Powertools does not warn).
    assert ask.invoke(load_event("api-health.json"))["statusCode"] == 200
    assert _emf_metric_names(capsys.readouterr().out) == set()
