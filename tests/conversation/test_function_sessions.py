"""The deployed shape of follow-ups: the ask handler (Mangum) on API Gateway events, its sessions
in DynamoDB (moto's server over HTTP) named by RAGFOOD_SESSIONS_TABLE, as the template wires it."""

from __future__ import annotations

import json
from pathlib import Path

from ragfood_cli.lambda_runner import LocalFunction

EVENT = json.loads((Path(__file__).resolve().parents[2] / "events" / "api-ask.json").read_text())


def ask_event(body: dict) -> dict:
    return {**EVENT, "body": json.dumps(body), "isBase64Encoded": False}


def test_the_ask_handler_follows_up_with_sessions_in_dynamodb(
    dataset_env, dynamodb, moto_endpoint
):
    function = LocalFunction(
        "ask",
        env={
            **dataset_env,
            "RAGFOOD_SESSIONS_TABLE": "sessions",
            "AWS_ENDPOINT_URL_DYNAMODB": moto_endpoint,
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
        },
    )
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
