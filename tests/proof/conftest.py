"""Fixtures for the proof suites: the real handlers, S3 (moto), the vector service, served APIs.

pytest only loads the conftest files on a test's own path, so the fixtures of the functions and
core suites are imported here explicitly.
"""

from __future__ import annotations

import json
import os
import subprocess
import time
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest

from ragfood_vector.launcher import VectorServer, free_port
from tests.core.conftest import generator_stub, stub  # noqa: F401
from tests.functions.conftest import (  # noqa: F401
    BUCKET,
    aws_credentials,
    clean_index,
    function,
    function_env,
    moto_endpoint,
    s3,
)
from tests.support.serve import RAGFOOD

LEAK_MARKERS = ("Traceback", 'File "')


def put_upload(s3_client: Any, body: bytes, key: str = "uploads/foods.json") -> None:
    s3_client.put_object(Bucket=BUCKET, Key=key, Body=body)


def report_in_bucket(s3_client: Any, key: str = "reports/foods.json.report.json") -> dict:
    return json.loads(s3_client.get_object(Bucket=BUCKET, Key=key)["Body"].read())


def as_json(items: list[dict[str, Any]]) -> bytes:
    return json.dumps(items).encode()


def _wait_until_up(url: str, process: subprocess.Popen[bytes], timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"ragfood serve exited with code {process.returncode}")
        try:
            if httpx.get(url, timeout=1.0).status_code == 200:
                return
        except httpx.HTTPError:
            time.sleep(0.1)
    raise TimeoutError(url)


def serve_env(server: VectorServer, namespace: str, **extra: str) -> dict[str, str]:
    """The environment of a `ragfood serve` process reading `namespace` of `server`."""
    return {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": os.environ.get("HOME", "/tmp"),
        "UPSTASH_VECTOR_REST_URL": server.url,
        "UPSTASH_VECTOR_REST_READONLY_TOKEN": server.readonly_token,
        "RAGFOOD_NAMESPACE": namespace,
        "RAGFOOD_MIN_SCORE": "0.5",
        "RAGFOOD_MAX_ATTEMPTS": "3",
        "RAGFOOD_RETRY_INITIAL_S": "0.01",
        "GENERATOR_URL": "",
        "POWERTOOLS_LOG_LEVEL": "ERROR",
        **extra,
    }


@pytest.fixture(scope="module")
def start_ask_api() -> Iterator[Callable[..., str]]:
    """start_ask_api(env, api_key=None) -> base URL of a `ragfood serve` subprocess.

    Every process it started is stopped when the module is done.
    """
    started: list[subprocess.Popen[bytes]] = []

    def start(env: dict[str, str], api_key: str | None = None) -> str:
        port = free_port()
        command = [str(RAGFOOD), "serve", "--host", "127.0.0.1", "--port", str(port)]
        if api_key:
            command += ["--api-key", api_key]
        process = subprocess.Popen(
            command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        started.append(process)
        base = f"http://127.0.0.1:{port}"
        _wait_until_up(f"{base}/health", process)
        return base

    yield start
    for process in started:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(10)
