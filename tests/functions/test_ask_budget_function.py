"""The ask function under its time budget, invoked with the API Gateway event in events/."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator

import pytest

from ragfood_cli.lambda_runner import LocalFunction
from ragfood_vector.launcher import VectorServer
from tests.core.conftest import make_gateway
from tests.functions.conftest import load_event
from tests.functions.test_ask_function import FOODS
from tests.support.generator_stub import GeneratorStub


@pytest.fixture
def indexed(vector_server: VectorServer, clean_index) -> None:
    from ragfood.sync import sync_foods

    sync_foods(json.dumps(FOODS).encode(), make_gateway(vector_server), namespace="")


@pytest.fixture
def trickling() -> Iterator[GeneratorStub]:
    with GeneratorStub() as stub:
        stub.state.mode, stub.state.trickle_s = "trickle", 0.5
        yield stub


def test_a_trickling_generator_gets_a_degraded_answer_in_budget(indexed, function, trickling):
    ask = function("ask", GENERATOR_URL=trickling.url, RAGFOOD_ASK_BUDGET_S="2")
    started = time.monotonic()
    response = ask.invoke(load_event("api-ask.json"))
    elapsed = time.monotonic() - started
    assert response["statusCode"] == 200 and elapsed < 8.0, elapsed
    answer = json.loads(response["body"])
    assert answer["degraded"] is True and answer["sources"][0]["id"] == "pho"
    assert "time budget" in answer["reason"]


def test_the_invocation_s_remaining_time_bounds_the_budget(indexed, function_env, trickling):
    # The budget allows 25 s but the function has 3 s left: answer before the function dies.
    ask = LocalFunction(
        "ask",
        env={**function_env, "GENERATOR_URL": trickling.url, "RAGFOOD_ASK_BUDGET_S": "25"},
        timeout_s=3.0,
    )
    started = time.monotonic()
    response = ask.invoke(load_event("api-ask.json"))
    elapsed = time.monotonic() - started
    assert response["statusCode"] == 200 and elapsed < 3.0 + 2.0, elapsed
    assert json.loads(response["body"])["degraded"] is True


def test_an_index_slower_than_the_budget_is_a_504_naming_it(
    function_env, start_vector_server, trickling
):
    slow = start_vector_server(latency_ms=4000)
    ask = LocalFunction(
        "ask", env={**function_env, **slow.client_env(), "RAGFOOD_ASK_BUDGET_S": "1"}
    )
    started = time.monotonic()
    response = ask.invoke(load_event("api-ask.json"))
    assert time.monotonic() - started < 3.5
    assert response["statusCode"] == 504
    error = json.loads(response["body"])
    assert error["dependency"] == "vector-index" and "time budget" in error["error"]
