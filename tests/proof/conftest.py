"""Fixtures for the proof suites: the real handlers, S3 (moto), the vector service, served APIs.

pytest only loads the conftest files on a test's own path, so the fixtures of the functions suite
are imported here explicitly.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from typing import Any

import pytest

from ragfood_vector.launcher import VectorServer
from tests.functions.conftest import (  # noqa: F401
    BUCKET,
    aws_credentials,
    clean_index,
    function,
    function_env,
    s3,
)
from tests.support.env import ragfood_env
from tests.support.serve import ragfood_serve

LEAK_MARKERS = ("Traceback", 'File "')


def put_upload(s3_client: Any, body: bytes, key: str = "uploads/foods.json") -> None:
    s3_client.put_object(Bucket=BUCKET, Key=key, Body=body)


def report_in_bucket(s3_client: Any, key: str = "reports/foods.json.report.json") -> dict:
    return json.loads(s3_client.get_object(Bucket=BUCKET, Key=key)["Body"].read())


def as_json(items: list[dict[str, Any]]) -> bytes:
    return json.dumps(items).encode()


def serve_env(server: VectorServer, namespace: str, **extra: str) -> dict[str, str]:
    """The environment of a `ragfood serve` process reading `namespace` of `server`."""
    return ragfood_env(
        server,
        namespace,
        readonly=True,
        **{
            "HOME": os.environ.get("HOME", "/tmp"),
            "RAGFOOD_MAX_ATTEMPTS": "3",
            "RAGFOOD_RETRY_INITIAL_S": "0.01",
            **extra,
        },
    )


@pytest.fixture(scope="module")
def start_ask_api() -> Iterator[Callable[..., str]]:
    """start_ask_api(env, api_key=None) -> base URL of a `ragfood serve` subprocess.

    Every process it started is stopped when the module is done.
    """
    with ExitStack() as servers:

        def start(env: dict[str, str], api_key: str | None = None) -> str:
            options = ["--host", "127.0.0.1", *(["--api-key", api_key] if api_key else [])]
            return servers.enter_context(ragfood_serve(env, *options))

        yield start
