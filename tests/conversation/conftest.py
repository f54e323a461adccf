"""Fixtures for conversations: the bundled data set in its own namespace, pipelines over it, the
stub generator, and moto's DynamoDB server over HTTP."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import httpx
import pytest

from ragfood.generator import GeneratorClient
from ragfood.pipeline import Pipeline
from ragfood.retry import RetryPolicy, retrying_client
from ragfood.sessions import SessionStore, Turn
from ragfood.sync import sync_foods
from ragfood_vector.launcher import VectorServer
from tests.core.conftest import make_gateway
from tests.support.env import ragfood_env
from tests.support.generator_stub import GeneratorStub
from tests.support.samples import MOCHI, PHO

DATA = Path(__file__).resolve().parents[2] / "data" / "foods.json"
DATASET_NAMESPACE = "conversation-dataset"


@pytest.fixture(scope="session")
def dataset_namespace(minilm_server: VectorServer) -> str:
    """data/foods.json, synced once into a namespace of its own on the real MiniLM model (the
    hash embedder does not find bibimbap even for "What is bibimbap?")."""
    # Small batches, long timeout: embedding 445 texts on a busy 2-core machine takes a while.
    gateway = make_gateway(minilm_server, batch_size=100, parallelism=1, timeout_s=180)
    report = sync_foods(DATA.read_bytes(), gateway, namespace=DATASET_NAMESPACE)
    assert report.status == "ok", report
    return DATASET_NAMESPACE


def generator_for(stub: GeneratorStub, timeout: float = 5.0) -> GeneratorClient:
    client = retrying_client(RetryPolicy(1, 0.01, 0.02), timeout)
    return GeneratorClient(stub.url, "llama3.2", client=client)


def pipeline_for(
    server: VectorServer, namespace: str, generator: GeneratorClient | None = None
) -> Pipeline:
    # min_score 0.5: the hash embedder's scores are not the tuned model's; no cache, so that
    # every ask really retrieves.
    gateway = make_gateway(server, write=False)
    return Pipeline(gateway, generator, namespace=namespace, min_score=0.5, cache_size=0)


@pytest.fixture
def dynamodb(moto_endpoint: str, monkeypatch: pytest.MonkeyPatch) -> Any:
    """A DynamoDB client on moto's server; the sessions table as the template declares it."""
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    client = boto3.client("dynamodb", endpoint_url=moto_endpoint, region_name="us-east-1")
    if "sessions" not in client.list_tables()["TableNames"]:
        client.create_table(
            TableName="sessions",
            AttributeDefinitions=[{"AttributeName": "session_id", "AttributeType": "S"}],
            KeySchema=[{"AttributeName": "session_id", "KeyType": "HASH"}],
            BillingMode="PAY_PER_REQUEST",
        )
        client.update_time_to_live(
            TableName="sessions",
            TimeToLiveSpecification={"AttributeName": "expires_at", "Enabled": True},
        )
    return client


def sessions_in_dynamodb(endpoint: str) -> dict[str, str]:
    """The environment that keeps sessions in the table "sessions" of the DynamoDB at `endpoint`."""
    return {
        "RAGFOOD_SESSIONS_TABLE": "sessions",
        "AWS_ENDPOINT_URL_DYNAMODB": endpoint,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
    }


# ------------------------------------------------------------------ `ragfood serve` as a process

KB = [PHO, MOCHI]


@pytest.fixture
def kb_env(vector_server: VectorServer, fresh_namespace: str) -> dict[str, str]:
    """Settings for a small knowledge base (pho, mochi) in a namespace of this test's own."""
    sync_foods(json.dumps(KB).encode(), make_gateway(vector_server), namespace=fresh_namespace)
    return ragfood_env(vector_server, fresh_namespace)


@pytest.fixture
def dataset_env(minilm_server: VectorServer, dataset_namespace: str) -> dict[str, str]:
    return ragfood_env(minilm_server, dataset_namespace)


@dataclass
class Event:
    name: str
    data: Any
    at: float  # seconds since the request was sent


def stream_events(
    base: str, payload: dict[str, Any], *, stop_after: str | None = None, timeout: float = 30
) -> tuple[int, list[Event]]:
    """POST /ask/stream and record each server-sent event with its arrival time."""
    from ragfood_cli.stream_client import events

    started = time.monotonic()
    received: list[Event] = []
    with httpx.stream("POST", f"{base}/ask/stream", json=payload, timeout=timeout) as response:
        if response.status_code != 200:
            response.read()
            return response.status_code, [Event("body", response.json(), 0.0)]
        assert response.headers["content-type"].startswith("text/event-stream")
        for name, data in events(response.iter_lines()):
            received.append(Event(name, data, time.monotonic() - started))
            if name == stop_after:
                break  # leaving the block hangs up, as a closed browser tab does
    return 200, received


def stored_turns(store: SessionStore, session_id: str) -> list[Turn] | None:
    """The session's turns as the store holds them; None when it is unknown or expired."""
    session = store.read(session_id)
    return None if session is None else session.turns
