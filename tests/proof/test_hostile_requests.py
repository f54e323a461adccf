"""Proof: hostile requests to the ask API get a 4xx naming what is wrong, never a 5xx or a trace.

Requests go through the REAL ask handler (Mangum + FastAPI) with events/api-ask.json as the base
API Gateway event; the API key is checked against `ragfood serve --api-key` run as a subprocess
(standing in for API Gateway) and statically in infra/template.yaml.
"""

from __future__ import annotations

import base64
import itertools
import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from ragfood.sync import sync_foods
from ragfood_cli.lambda_runner import LocalFunction, load_template
from ragfood_vector.launcher import VectorServer
from tests.core.conftest import make_gateway
from tests.functions.conftest import load_event
from tests.proof.conftest import LEAK_MARKERS, as_json, serve_env
from tests.support.samples import FEIJOADA, GAZPACHO, MOCHI

FOODS = [
    {
        "id": "pho",
        "text": "Pho is a Vietnamese soup of rice noodles in beef broth.",
        "region": "Vietnam",
        "type": "soup",
    },
    {
        "id": "bun-bo-hue",
        "text": "Bun bo Hue is a spicy Vietnamese beef noodle soup.",
        "region": "Vietnam",
        "type": "soup",
    },
    GAZPACHO,
    MOCHI,
    FEIJOADA,
]
API_KEY = "proof-key-0123"
_module_numbers = itertools.count()


@pytest.fixture(scope="module")
def namespace(vector_server: VectorServer) -> str:
    """A namespace holding FOODS (several regions), shared by this module's read-only tests."""
    name = f"proof-requests-{next(_module_numbers)}"
    report = sync_foods(as_json(FOODS), make_gateway(vector_server), namespace=name)
    assert report.upserted == len(FOODS)
    return name


@pytest.fixture(scope="module")
def ask(vector_server: VectorServer, namespace: str) -> LocalFunction:
    """One warm ask 'container' reading the module's namespace."""
    return LocalFunction(
        "ask",
        env={
            "UPSTASH_VECTOR_REST_URL": vector_server.url,
            "UPSTASH_VECTOR_REST_READONLY_TOKEN": vector_server.readonly_token,
            "RAGFOOD_NAMESPACE": namespace,
            "RAGFOOD_MIN_SCORE": "0.5",
            "RAGFOOD_MAX_ATTEMPTS": "2",
            "RAGFOOD_RETRY_INITIAL_S": "0.01",
            "GENERATOR_URL": "",
        },
    )


@pytest.fixture(scope="module")
def served(start_ask_api, vector_server: VectorServer, namespace: str) -> Iterator[str]:
    yield start_ask_api(serve_env(vector_server, namespace), api_key=API_KEY)


def request(
    body: str | bytes | dict[str, Any] | None = None,
    *,
    content_type: str = "application/json",
    method: str = "POST",
    path: str = "/ask",
) -> dict[str, Any]:
    """events/api-ask.json with another body, Content-Type, method or path."""
    event = load_event("api-ask.json")
    headers = {**event["headers"], "Content-Type": content_type}
    event.update(
        headers=headers,
        multiValueHeaders={name: [value] for name, value in headers.items()},
        httpMethod=method,
        path=path,
        resource=path,
        isBase64Encoded=False,
    )
    event["requestContext"] = {**event["requestContext"], "httpMethod": method}
    if isinstance(body, bytes):  # API Gateway hands binary bodies over base64-encoded
        event.update(body=base64.b64encode(body).decode(), isBase64Encoded=True)
    elif isinstance(body, dict):
        event["body"] = json.dumps(body)
    else:
        event["body"] = body
    return event


def error_message(response: dict[str, Any]) -> str:
    """The error a client reads: ours ("error"), FastAPI's ("detail") or API Gateway's."""
    payload = json.loads(response["body"])
    assert isinstance(payload, dict)
    message = payload.get("error") or payload.get("detail") or payload.get("message")
    assert isinstance(message, str), payload
    return message


def assert_client_error(response: dict[str, Any], status: int, names: str) -> None:
    assert not any(marker in response["body"] for marker in LEAK_MARKERS)
    assert response["statusCode"] == status
    assert names.lower() in error_message(response).lower()


CLIENT_MISTAKES = [
    pytest.param({"question": ""}, "question", id="empty-question"),
    pytest.param({"question": " \t\n "}, "question", id="whitespace-question"),
    pytest.param({"question": "\x00\x07\x1b"}, "question", id="control-characters-question"),
    pytest.param({"question": "x" * 2001}, "question", id="question-2001-chars"),
    pytest.param({"question": "pho " * 262_144}, "question", id="body-1-mb"),
    pytest.param({"question": 42}, "question", id="question-number"),
    pytest.param({"top_k": 3}, "question", id="question-missing"),
    pytest.param({"question": "pho", "top_k": 0}, "top_k", id="top_k-0"),
    pytest.param({"question": "pho", "top_k": -1}, "top_k", id="top_k-negative"),
    pytest.param({"question": "pho", "top_k": 21}, "top_k", id="top_k-21"),
    pytest.param({"question": "pho", "top_k": 3.5}, "top_k", id="top_k-fraction"),
    pytest.param({"question": "pho", "top_k": "many"}, "top_k", id="top_k-word"),
    pytest.param({"question": "pho", "min_score": -0.1}, "min_score", id="min_score-negative"),
    pytest.param({"question": "pho", "min_score": 1.5}, "min_score", id="min_score-above-1"),
    pytest.param({"question": "soup", "region": "a'b\"c"}, "region", id="region-both-quotes"),
    pytest.param({"question": "soup", "region": "viet\\nam"}, "region", id="region-backslash"),
    pytest.param({"question": "soup", "region": "viet\x00nam"}, "region", id="region-nul"),
    pytest.param({"question": "soup", "region": ""}, "region", id="region-empty"),
    pytest.param({"question": "soup", "region": "v" * 101}, "region", id="region-101-chars"),
    pytest.param({"question": "soup", "type": "a'\"b"}, "type", id="type-both-quotes"),
    pytest.param({"question": "pho", "colour": "red"}, "colour", id="unknown-field"),
    pytest.param("{not json", "body", id="invalid-json"),
    pytest.param("null", "body", id="body-null"),
    pytest.param("[]", "body", id="body-array"),
    pytest.param('"pho"', "body", id="body-string"),
    pytest.param("", "body", id="body-empty"),
]


@pytest.mark.parametrize(("payload", "field"), CLIENT_MISTAKES)
def test_client_mistake_gets_422_naming_the_field(ask, payload, field):
    assert_client_error(ask.invoke(request(payload)), 422, field)


def test_body_that_is_not_utf8_gets_400_naming_the_body(ask):
    response = ask.invoke(request(b'{"question": "\xff\xfe pho \xc3"}'))
    assert_client_error(response, 400, "body")


@pytest.mark.parametrize("number", ["NaN", "Infinity", "-Infinity"])
def test_min_score_that_is_not_a_finite_number_is_refused_saying_so(ask, number):
    # Python's JSON parser accepts these literals; "should be less than or equal to 1" for NaN
    # would send the client looking for the wrong mistake.
    response = ask.invoke(request(f'{{"question": "pho", "min_score": {number}}}'))
    assert_client_error(response, 422, "min_score")
    assert "finite" in error_message(response)


def test_body_nested_too_deeply_gets_400_saying_so(ask):
    deep = "[" * 100_000 + "]" * 100_000
    response = ask.invoke(request('{"question": "pho", "x": ' + deep + "}"))
    assert_client_error(response, 400, "body")
    assert "nested too deeply" in error_message(response)


def test_plain_text_body_gets_4xx_naming_the_body(ask):
    response = ask.invoke(request("What is pho?", content_type="text/plain"))
    assert_client_error(response, 422, "body")


@pytest.mark.parametrize(
    "content_type",
    [
        "text/plain",
        "application/x-www-form-urlencoded",  # what the README's `curl -d '{...}'` sends
    ],
)
def test_json_body_under_another_content_type_is_answered_or_refused_naming_it(ask, content_type):
    response = ask.invoke(request({"question": "Vietnamese soup"}, content_type=content_type))
    assert not any(marker in response["body"] for marker in LEAK_MARKERS)
    if response["statusCode"] != 200:
        assert response["statusCode"] in (415, 422)
        assert "content-type" in error_message(response).lower()


def test_get_on_ask_is_405(ask):
    assert_client_error(ask.invoke(request(None, method="GET")), 405, "method not allowed")


def test_unknown_path_is_404(ask):
    assert_client_error(ask.invoke(request({"question": "pho"}, path="/admin")), 404, "not found")


@pytest.mark.parametrize(
    "filters",
    [
        pytest.param({"region": "x' OR 1=1 OR 'y"}, id="region-single-quote-or"),
        pytest.param({"region": "vietnam' OR region_key != '"}, id="region-breaks-out"),
        pytest.param({"region": 'Vietnam" OR "1"="1'}, id="region-double-quote-or"),
        pytest.param({"type": "soup' OR type_key != '"}, id="type-filter-syntax"),
        pytest.param({"region": "Spain", "type": "x' OR region_key = 'vietnam"}, id="type-or"),
    ],
)
def test_filter_injection_is_a_literal_that_matches_nothing(ask, filters):
    response = ask.invoke(request({"question": "Vietnamese soup", "min_score": 0, **filters}))
    assert response["statusCode"] == 200
    assert json.loads(response["body"])["sources"] == []


def test_region_filter_returns_only_items_of_that_region(ask):
    payload = {"question": "Vietnamese soup", "region": "VIETNAM", "min_score": 0, "top_k": 20}
    response = ask.invoke(request(payload))
    regions = {s["region"] for s in json.loads(response["body"])["sources"]}
    assert regions == {"Vietnam"}


@pytest.mark.parametrize(
    ("payload", "field"),
    [({"top_k": "2"}, "top_k"), ({"min_score": "0.5"}, "min_score")],
    ids=["top_k", "min_score"],
)
def test_numbers_given_as_strings_are_refused_naming_the_field(ask, payload, field):
    response = ask.invoke(request({"question": "soup", **payload}))
    assert response["statusCode"] == 422
    assert field in json.loads(response["body"])["error"]


def test_whole_number_min_score_is_accepted(ask):
    response = ask.invoke(request({"question": "soup", "min_score": 0, "top_k": 2}))
    assert response["statusCode"] == 200
    assert len(json.loads(response["body"])["sources"]) == 2


@pytest.mark.parametrize(
    "headers", [{}, {"x-api-key": "wrong-key"}, {"x-api-key": ""}], ids=["none", "wrong", "empty"]
)
def test_served_api_refuses_a_missing_or_wrong_api_key_with_403(served, headers):
    response = httpx.post(
        f"{served}/ask", json={"question": "Vietnamese soup"}, headers=headers, timeout=10
    )
    assert (response.status_code, response.json()) == (403, {"message": "Forbidden"})


def test_served_api_answers_with_the_right_api_key(served):
    response = httpx.post(
        f"{served}/ask",
        json={"question": "Vietnamese soup with beef broth"},
        headers={"x-api-key": API_KEY},
        timeout=10,
    )
    assert response.status_code == 200 and response.json()["sources"][0]["id"] == "pho"


def test_template_requires_an_api_key_on_post_ask():
    resources = load_template()["Resources"]
    api_events = [
        event["Properties"]
        for resource in resources.values()
        if resource.get("Type") == "AWS::Serverless::Function"
        for event in (resource["Properties"].get("Events") or {}).values()
        if event.get("Type") == "Api"
    ]
    ask_routes = [e for e in api_events if e["Path"] == "/ask" or "{proxy" in e["Path"]]
    # The one exception: CORS preflights (browsers never send a key on them; docs/deploy.md).
    ask_routes = [e for e in ask_routes if e["Method"].lower() != "options"]
    assert [(e["Path"], e["Method"].lower()) for e in ask_routes] == [("/ask", "post")]
    assert all(e.get("Auth", {}).get("ApiKeyRequired") is True for e in ask_routes)
    apis = [r for r in resources.values() if r.get("Type") == "AWS::Serverless::Api"]
    assert apis and all(api["Properties"]["Auth"]["ApiKeyRequired"] is True for api in apis)
