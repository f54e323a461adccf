"""`ragfood serve` as a child process for tests and benches: on a free port, ready, then stopped."""

from __future__ import annotations

import subprocess
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

import httpx

from ragfood_vector.launcher import free_port

REPO = Path(__file__).resolve().parents[2]
RAGFOOD = REPO / ".venv" / "bin" / "ragfood"


def wait_until_up(url: str, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            httpx.get(url, timeout=1.0)
            return
        except httpx.HTTPError:
            time.sleep(0.1)
    raise TimeoutError(url)


@contextmanager
def ragfood_serve(env: Mapping[str, str], *options: str) -> Iterator[str]:
    """Yield the base URL of a `ragfood serve` started with `env` and `options`."""
    port = free_port()
    process = subprocess.Popen(
        [str(RAGFOOD), "serve", "--port", str(port), *options],
        env=dict(env),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        base = f"http://127.0.0.1:{port}"
        wait_until_up(f"{base}/health")
        yield base
    finally:
        process.terminate()
        process.wait(10)
