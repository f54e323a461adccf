"""Fixtures for the Lambda functions: moto's S3 server over HTTP, the events/ files, local runs."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import boto3
import pytest
from upstash_vector import Index

from ragfood_cli.lambda_runner import LocalFunction
from ragfood_vector.launcher import VectorServer
from tests.support.env import ragfood_env

REPO = Path(__file__).resolve().parents[2]
EVENTS = REPO / "events"
BUCKET = "ragfood-kb-local"  # the bucket named in events/s3-put-*.json
TENANTS = ("acme", "globex")  # the tenants named in events/s3-put-tenants.json


def load_event(name: str) -> dict[str, Any]:
    return json.loads((EVENTS / name).read_text())


@pytest.fixture(autouse=True)
def aws_credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    # Dummy credentials: moto accepts anything, and nothing here may reach real AWS.
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")


@pytest.fixture
def s3(moto_endpoint: str) -> Any:
    client = boto3.client("s3", endpoint_url=moto_endpoint, region_name="us-east-1")
    existing = {b["Name"] for b in client.list_buckets()["Buckets"]}
    if BUCKET in existing:
        for obj in client.list_objects_v2(Bucket=BUCKET).get("Contents", []):
            client.delete_object(Bucket=BUCKET, Key=obj["Key"])
    else:
        client.create_bucket(Bucket=BUCKET)
    return client


@pytest.fixture
def clean_index(vector_server: VectorServer) -> Index:
    """The default namespace and the events' tenants start empty in every test."""
    index = Index(url=vector_server.url, token=vector_server.token)
    for namespace in ("", *TENANTS):
        index.reset(namespace=namespace)
    return index


@pytest.fixture
def function_env(vector_server: VectorServer, moto_endpoint: str) -> dict[str, str]:
    # Not quiet: the template's log level, as deployed.
    return ragfood_env(
        vector_server,
        quiet=False,
        AWS_ENDPOINT_URL_S3=moto_endpoint,
        RAGFOOD_RETRY_INITIAL_S="0.01",
        RAGFOOD_RETRY_MAX_S="0.05",
    )


@pytest.fixture
def function(function_env: dict[str, str]) -> Callable[..., LocalFunction]:
    """function("ingest", **env overrides) -> a cold LocalFunction wired to the test services."""

    def make(name: str, **overrides: str) -> LocalFunction:
        return LocalFunction(name, env={**function_env, **overrides})

    return make
