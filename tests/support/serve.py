"""`ragfood serve` as a child process for tests and benches: on a free port, ready, then stopped."""

from __future__ import annotations

import os
import subprocess
import tempfile
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx

from ragfood_vector.launcher import free_port

REPO = Path(__file__).resolve().parents[2]
RAGFOOD = REPO / ".venv" / "bin" / "ragfood"


def wait_until_up(
    url: str, timeout: float = 60.0, process: subprocess.Popen[Any] | None = None
) -> None:
    """Poll `url` until it answers 200; give up at once if `process` (the server) has exited."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            httpx.get(url, timeout=1.0).raise_for_status()
            return
        except httpx.HTTPError:
            if process is not None and process.poll() is not None:
                raise RuntimeError(f"exited with code {process.returncode}") from None
            if time.monotonic() > deadline:
                raise TimeoutError(url) from None
            time.sleep(0.1)


@contextmanager
def ragfood_serve(
    env: Mapping[str, str], *options: str, log_path: Path | None = None
) -> Iterator[str]:
    """Yield the base URL of a `ragfood serve` started with `env` (plus this PATH, unless `env`
    sets one) and `options`; if it does not come up, the error carries the server's output. Its
    output goes to `log_path` when given (for tests that read the logs)."""
    port = free_port()
    # A file, not a pipe: a chatty server must never block on it.
    opened = open(log_path, "w+") if log_path else tempfile.TemporaryFile("w+")  # noqa: SIM115
    with opened as log:
        process = subprocess.Popen(
            [str(RAGFOOD), "serve", "--port", str(port), *options],
            env={"PATH": os.environ.get("PATH", "/usr/bin:/bin"), **env},
            stdout=log,
            stderr=subprocess.STDOUT,
            text=True,
        )
        try:
            base = f"http://127.0.0.1:{port}"
            try:
                wait_until_up(f"{base}/health", process=process)
            except (RuntimeError, TimeoutError) as error:
                log.seek(0)
                output = log.read()
                raise RuntimeError(f"ragfood serve did not start ({error}):\n{output}") from None
            yield base
        finally:
            process.terminate()
            try:
                process.wait(10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
