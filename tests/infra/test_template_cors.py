"""The template's browser support: CORS off by default, one parameter turns it on for the app's
answers, its preflights (which need no API key) and the errors API Gateway makes itself."""

from __future__ import annotations

import pytest

from tests.infra.test_template import _api_events, _requires_key, function_env, template  # noqa: F401

CORS_HEADER = "Access-Control-Allow-Origin"


def test_cors_is_a_parameter_that_is_off_by_default(template):  # noqa: F811
    parameter = template["Parameters"]["CorsAllowOrigin"]
    assert parameter["Default"] == ""
    assert template["Conditions"]["HasCors"] == {
        "Fn::Not": [{"Fn::Equals": [{"Ref": "CorsAllowOrigin"}, ""]}]
    }
    # The app reads the very same value: one setting for preflights and answers.
    assert function_env(template, "AskFunction")["RAGFOOD_CORS_ORIGINS"] == {
        "Ref": "CorsAllowOrigin"
    }


@pytest.mark.parametrize("value", ["", "*", "https://app.example.com", "http://localhost:5173"])
def test_cors_parameter_accepts_origins(template, value):  # noqa: F811
    import re

    assert re.fullmatch(template["Parameters"]["CorsAllowOrigin"]["AllowedPattern"], value)


@pytest.mark.parametrize("value", ["app.example.com", "https://a.example/path", "'*'", "a b"])
def test_cors_parameter_refuses_what_is_not_an_origin(template, value):  # noqa: F811
    import re

    assert not re.fullmatch(template["Parameters"]["CorsAllowOrigin"]["AllowedPattern"], value)


def test_preflight_reaches_the_app_without_an_api_key(template):  # noqa: F811
    # Browsers never send the key on a preflight: requiring it would fail every cross-origin call.
    preflight = _api_events(template)[("/ask", "options")]
    assert not _requires_key(template, preflight)


@pytest.mark.parametrize("kind", ["DEFAULT_4XX", "DEFAULT_5XX"])
def test_gateway_errors_carry_the_origin_only_when_cors_is_on(template, kind):  # noqa: F811
    responses = template["Resources"]["Api"]["Properties"]["GatewayResponses"]
    header = responses[kind]["ResponseParameters"]["Headers"][CORS_HEADER]
    assert header == {
        "Fn::If": ["HasCors", {"Fn::Sub": "'${CorsAllowOrigin}'"}, {"Ref": "AWS::NoValue"}]
    }
