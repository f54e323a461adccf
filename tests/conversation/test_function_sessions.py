"""The deployed shape of follow-ups: the ask handler (Mangum) on API Gateway events, its sessions
in DynamoDB (moto's server over HTTP) named by RAGFOOD_SESSIONS_TABLE, as the template wires it."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from ragfood_cli.lambda_runner import LocalFunction
from ragfood_vector.launcher import free_port
from tests.conversation.conftest import sessions_in_dynamodb

EVENT = json.loads((Path(__file__).resolve().parents[2] / "events" / "api-ask.json").read_text())


def ask_event(body: dict) -> dict:
    return {**EVENT, "body": json.dumps(body), "isBase64Encoded": False}


def test_the_ask_handler_follows_up_with_sessions_in_dynamodb(
    dataset_env, dynamodb, moto_endpoint
):
    function = LocalFunction("ask", env={**dataset_env, **sessions_in_dynamodb(moto_endpoint)})
    first = json.loads(function.invoke(ask_event({"question": "What is bibimbap?"}))["body"])
    session = first["session_id"]
    stored = dynamodb.get_item(TableName="sessions", Key={"session_id": {"S": session}})
    assert json.loads(stored["Item"]["turns"]["S"])[0]["question"] == "What is bibimbap?"

    # A new container (cold start): the turns come from the table, not from memory.
    function = LocalFunction("ask", env=function.env)
    follow_up = {"question": "Which country is it from?", "session_id": session}
    second = json.loads(function.invoke(ask_event(follow_up))["body"])
    assert second["session_id"] == session
    assert second["resolved_question"] == "Which country is bibimbap from?"
    assert second["sources"][0]["id"] == "bibimbap"

    alone = ask_event({"question": "Which country is it from?"})
    other = json.loads(function.invoke(alone)["body"])
    assert other["session_id"] != session
    assert other["resolved_question"] == "Which country is it from?"


@pytest.mark.parametrize("fault", ["table missing", "endpoint refused", "endpoint silent"])
def test_a_session_store_that_fails_loses_the_memory_not_the_answer(
    dataset_env, dynamodb, moto_endpoint, silent_endpoint, fault
):
    """DynamoDB failing (a deleted table, an endpoint that refuses or never answers) costs the
    follow-up its context, never the answer: 200 with sources, in time, the conversation's id
    kept for when the store is back; no 500."""
    env = {**dataset_env, **sessions_in_dynamodb(moto_endpoint)}
    first = LocalFunction("ask", env=env).invoke(ask_event({"question": "What is bibimbap?"}))
    session = json.loads(first["body"])["session_id"]
    if fault == "table missing":
        env["RAGFOOD_SESSIONS_TABLE"] = "sessions-deleted"
    elif fault == "endpoint refused":
        env["AWS_ENDPOINT_URL_DYNAMODB"] = f"http://127.0.0.1:{free_port()}"
    else:
        env["AWS_ENDPOINT_URL_DYNAMODB"] = silent_endpoint
    function = LocalFunction("ask", env=env)
    started = time.monotonic()
    response = function.invoke(ask_event({"question": "What is bibimbap?", "session_id": session}))
    took = time.monotonic() - started
    body = json.loads(response["body"])
    assert response["statusCode"] == 200, body
    assert body["sources"][0]["id"] == "bibimbap" and body["session_id"] == session
    assert took < 20, f"{took:.1f} s"
