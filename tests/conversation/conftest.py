"""Fixtures for conversations: the bundled data set in its own namespace, pipelines over it, the
stub generator, and moto's DynamoDB server over HTTP."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto.server import ThreadedMotoServer

from ragfood.generator import GeneratorClient
from ragfood.pipeline import Pipeline
from ragfood.retry import RetryPolicy, retrying_client
from ragfood.sync import sync_foods
from ragfood_vector.launcher import VectorServer
from tests.core.conftest import make_gateway
from tests.support.generator_stub import GeneratorStub

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


@pytest.fixture(scope="session")
def generator_stub() -> Iterator[GeneratorStub]:
    with GeneratorStub() as stub:
        yield stub


@pytest.fixture
def stub(generator_stub: GeneratorStub) -> GeneratorStub:
    generator_stub.reset()
    return generator_stub


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


@pytest.fixture(scope="session")
def moto_dynamodb() -> Iterator[str]:
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


@pytest.fixture
def dynamodb(moto_dynamodb: str, monkeypatch: pytest.MonkeyPatch) -> Any:
    """A DynamoDB client on moto's server; the sessions table as the template declares it."""
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    client = boto3.client("dynamodb", endpoint_url=moto_dynamodb, region_name="us-east-1")
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
