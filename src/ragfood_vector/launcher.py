"""Run the service as a subprocess for tests, benchmarks and demos.

    with VectorServer(embedder="hash") as server:                  # hybrid: dense + BM25
        index = server.index()          # an upstash_vector.Index pointed at it
        ...
    with VectorServer(embedder="hash", sparse="none") as server:   # dense-only

The subprocess is a real ``python -m ragfood_vector serve`` on a free loopback port, so clients
talk to it exactly as to Upstash: over HTTP, with its own process, crashes and restarts.
"""

from __future__ import annotations

import atexit
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import weakref
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any

import httpx

from ragfood_vector.config import DEFAULT_READONLY_TOKEN, DEFAULT_SPARSE, DEFAULT_TOKEN

# Spelled out rather than imported from .server, so launching stays free of the server's imports.
PARENT_PID_ENV = "RAGFOOD_VECTOR_PARENT_PID"

if TYPE_CHECKING:
    from upstash_vector import Index

_running: weakref.WeakSet[VectorServer] = weakref.WeakSet()


@atexit.register
def _stop_all() -> None:
    # Last line of defence for servers whose owner forgot to stop them.
    for server in list(_running):
        server.stop()


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class VectorServerError(RuntimeError):
    """The service did not come up; the message carries the tail of its output."""


class VectorServer:
    def __init__(
        self,
        embedder: str = "hash",
        data_dir: str | Path | None = None,
        latency_ms: float = 0,
        fail_rate: float = 0.0,
        seed: int = 0,
        retry_after: float | None = None,
        write_quota: int | None = None,
        token: str = DEFAULT_TOKEN,
        readonly_token: str = DEFAULT_READONLY_TOKEN,
        port: int | None = None,
        dimension: int = 384,
        startup_timeout: float = 60.0,
        sparse: str = DEFAULT_SPARSE,
    ) -> None:
        self.embedder = embedder
        self.sparse = sparse
        self.latency_ms = latency_ms
        self.fail_rate = fail_rate
        self.seed = seed
        self.retry_after = retry_after
        self.write_quota = write_quota
        self.token = token
        self.readonly_token = readonly_token
        self.dimension = dimension
        self.startup_timeout = startup_timeout
        self.port = port if port is not None else free_port()
        self.host = "127.0.0.1"
        self._owns_data_dir = data_dir is None
        self.data_dir = (
            Path(tempfile.mkdtemp(prefix="ragfood-vector-")) if data_dir is None else Path(data_dir)
        )
        log_fd, log_name = tempfile.mkstemp(prefix="ragfood-vector-", suffix=".log")
        os.close(log_fd)
        self.log_path = Path(log_name)
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def command(self) -> list[str]:
        return [
            sys.executable, "-m", "ragfood_vector", "serve",
            "--host", self.host,
            "--port", str(self.port),
            "--data-dir", str(self.data_dir),
            "--embedder", self.embedder,
            "--dimension", str(self.dimension),
            "--sparse", self.sparse,
            "--latency-ms", str(self.latency_ms),
            "--fail-rate", str(self.fail_rate),
            "--seed", str(self.seed),
            *(["--retry-after", str(self.retry_after)] if self.retry_after is not None else []),
            *(["--write-quota", str(self.write_quota)] if self.write_quota is not None else []),
        ]  # fmt: skip

    # -- lifecycle ---------------------------------------------------------------------------

    def start(self) -> VectorServer:
        if self.process is not None and self.process.poll() is None:
            return self
        env = {k: v for k, v in os.environ.items() if not k.startswith("RAGFOOD_VECTOR_")}
        env[PARENT_PID_ENV] = str(os.getpid())
        # Tokens go by environment rather than argv, which any local user can read with `ps`.
        env["RAGFOOD_VECTOR_TOKEN"] = self.token
        env["RAGFOOD_VECTOR_READONLY_TOKEN"] = self.readonly_token
        env["PYTHONUNBUFFERED"] = "1"
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                self.command(),
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env=env,
            )
        _running.add(self)
        try:
            self._wait_until_ready()
        except BaseException:
            self._terminate()
            raise
        return self

    def _wait_until_ready(self) -> None:
        assert self.process is not None
        deadline = time.monotonic() + self.startup_timeout
        # /health is unauthenticated and exempt from fault injection and latency, so polling it
        # neither fails spuriously nor shifts the seeded sequence of injected failures.
        with httpx.Client(timeout=2.0) as client:
            while time.monotonic() < deadline:
                if self.process.poll() is not None:
                    raise VectorServerError(
                        f"The vector service exited with code {self.process.returncode} before "
                        f"answering:\n{self.output()}"
                    )
                try:
                    if client.get(f"{self.url}/health").status_code == 200:
                        return
                except httpx.TransportError:
                    pass
                time.sleep(0.05)
        raise VectorServerError(
            f"The vector service did not answer within {self.startup_timeout:.0f} s:\n"
            f"{self.output()}"
        )

    def output(self, tail: int = 4000) -> str:
        """What the service printed so far (the last ``tail`` characters)."""
        try:
            return self.log_path.read_text(errors="replace")[-tail:]
        except FileNotFoundError:
            return ""

    def _terminate(self) -> None:
        process, self.process = self.process, None
        if process is None:
            return
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=10)

    def kill(self) -> None:
        """SIGKILL the service, as a crash would (the data dir is kept; call ``restart()``)."""
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=10)
        self.process = None

    def restart(self) -> VectorServer:
        """Stop and start again with the same data dir and port."""
        self._terminate()
        return self.start()

    def stop(self) -> None:
        self._terminate()
        _running.discard(self)
        if self._owns_data_dir:
            shutil.rmtree(self.data_dir, ignore_errors=True)
        self.log_path.unlink(missing_ok=True)

    def __enter__(self) -> VectorServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    # -- clients -----------------------------------------------------------------------------

    def client_env(self) -> dict[str, str]:
        """The product's settings for this service: URL, read-write and read-only tokens."""
        return {
            "UPSTASH_VECTOR_REST_URL": self.url,
            "UPSTASH_VECTOR_REST_TOKEN": self.token,
            "UPSTASH_VECTOR_REST_READONLY_TOKEN": self.readonly_token,
        }

    def index(self, *, readonly: bool = False, **kwargs: Any) -> Index:
        """An ``upstash_vector.Index`` for this service (read-only token if ``readonly``)."""
        from upstash_vector import Index

        kwargs.setdefault("allow_telemetry", False)
        return Index(url=self.url, token=self.readonly_token if readonly else self.token, **kwargs)
