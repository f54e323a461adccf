"""The ask function for browsers: CORS from RAGFOOD_CORS_ORIGINS (off by default) and the API key
declared in the OpenAPI schema, invoked with API Gateway events as Lambda would be."""

from __future__ import annotations

import json
from typing import Any

import pytest

from ragfood import cors
from ragfood.errors import ConfigError
from tests.functions.conftest import load_event

ORIGIN = "https://app.example.com"


def event(method: str, path: str, headers: dict[str, str], body: Any = None) -> dict[str, Any]:
    base = load_event("api-ask.json")
    merged = {**{k: v for k, v in base["headers"].items() if k != "x-api-key"}, **headers}
    return {
        **base,
        "httpMethod": method,
        "path": path,
        "resource": path,
        "headers": merged,
        "multiValueHeaders": {k: [v] for k, v in merged.items()},
        "body": None if body is None else json.dumps(body),
    }


def header(response: dict[str, Any], name: str) -> str | None:
    headers = {k.lower(): v for k, v in (response.get("headers") or {}).items()}
    for k, values in (response.get("multiValueHeaders") or {}).items():
        headers.setdefault(k.lower(), values[0])
    return headers.get(name.lower())


PREFLIGHT = {
    "Origin": ORIGIN,
    "Access-Control-Request-Method": "POST",
    "Access-Control-Request-Headers": "content-type,x-api-key",
}


@pytest.fixture
def ask_with_cors(function):
    return function("ask", RAGFOOD_CORS_ORIGINS=ORIGIN)


def test_a_preflight_is_answered_without_a_key(ask_with_cors):
    response = ask_with_cors.invoke(event("OPTIONS", "/ask", PREFLIGHT))
    assert response["statusCode"] == 200
    assert header(response, "access-control-allow-origin") == ORIGIN
    assert "x-api-key" in header(response, "access-control-allow-headers").lower()
    assert "POST" in header(response, "access-control-allow-methods")


def test_answers_and_errors_carry_the_allowed_origin(ask_with_cors, clean_index):
    ok = ask_with_cors.invoke(event("POST", "/ask", {"Origin": ORIGIN}, {"question": "pho"}))
    assert ok["statusCode"] == 200 and header(ok, "access-control-allow-origin") == ORIGIN
    bad = ask_with_cors.invoke(event("POST", "/ask", {"Origin": ORIGIN}, {"question": ""}))
    assert bad["statusCode"] == 422 and header(bad, "access-control-allow-origin") == ORIGIN


def test_other_origins_are_not_allowed(ask_with_cors):
    other = {**PREFLIGHT, "Origin": "https://evil.example"}
    response = ask_with_cors.invoke(event("OPTIONS", "/ask", other))
    assert response["statusCode"] == 400 and header(response, "access-control-allow-origin") is None


def test_cors_is_off_by_default(function, clean_index):
    ask = function("ask")
    answer = ask.invoke(event("POST", "/ask", {"Origin": ORIGIN}, {"question": "pho"}))
    assert answer["statusCode"] == 200 and header(answer, "access-control-allow-origin") is None
    assert ask.invoke(event("OPTIONS", "/ask", PREFLIGHT))["statusCode"] == 405


def test_the_api_key_is_declared_in_the_openapi_schema(function):
    response = function("ask").invoke(event("GET", "/openapi.json", {}))
    schema = json.loads(response["body"])
    assert schema["components"]["securitySchemes"]["ApiKey"] == {
        "type": "apiKey",
        "in": "header",
        "name": "x-api-key",
        "description": schema["components"]["securitySchemes"]["ApiKey"]["description"],
    }
    assert schema["paths"]["/ask"]["post"]["security"] == [{"ApiKey": []}]
    assert "security" not in schema["paths"]["/health"]["get"]  # public, as in the template


def test_the_app_declares_the_key_but_api_gateway_enforces_it(function, clean_index):
    # No key in the event: API Gateway would have refused it before; the app must not (it
    # never sees the key's value on a real deployment's checked requests anyway).
    response = function("ask").invoke(event("POST", "/ask", {}, {"question": "pho"}))
    assert response["statusCode"] == 200


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("", []),
        ("*", ["*"]),
        (f"{ORIGIN}, http://localhost:5173/", [ORIGIN, "http://localhost:5173"]),
        (f"{ORIGIN},*", ["*"]),
    ],
)
def test_origins_setting(value, expected):
    assert cors.allowed_origins({cors.CORS_ENV: value}) == expected


@pytest.mark.parametrize("value", ["app.example.com", "https://app.example.com/path", "'*'"])
def test_a_malformed_origin_is_refused_naming_the_variable(value):
    with pytest.raises(ConfigError, match="RAGFOOD_CORS_ORIGINS"):
        cors.allowed_origins({cors.CORS_ENV: value})
