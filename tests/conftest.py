"""Shared fixtures for the whole test suite.

Vector service fixtures run the local Upstash-compatible service (``ragfood_vector``) as a real
subprocess, so the ``upstash_vector`` SDK and our own clients talk HTTP to it as to Upstash:

- ``vector_server``: one hash-embedder service for the session; isolate tests with
  ``fresh_namespace`` instead of resetting it.
- ``minilm_server``: one service with the real all-MiniLM-L6-v2 model, for semantic tests.
- ``start_vector_server``: a factory for a service with special options (fault injection,
  latency, ``embedder="none"``, its own data dir); everything it started is stopped afterwards.

These are dense-only indexes (``sparse="none"``, ``PRODUCT_INDEX_SPARSE``): the product's tests
were written for dense scores, and the vector service's dense conformance suite runs on them.
Hybrid (dense + BM25) services: ``VectorServer(sparse="bm25")`` or
``start_vector_server(sparse="bm25")``; tests/vector/conftest.py has a session one.

``silent_endpoint``: the URL of a port that accepts connections and never answers.

AWS: ``moto_endpoint`` is moto's standalone server over HTTP (S3, DynamoDB, SSM...), one for the
session.

The generator: ``stub`` is the session's Ollama/OpenAI-protocol stub server
(tests/support/generator_stub.py), reset to answering normally before each test.
"""

from __future__ import annotations

import itertools
import signal
import socket
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from ragfood_vector.launcher import VectorServer
from tests.support.generator_stub import GeneratorStub

_namespace_numbers = itertools.count()

# The index kind these fixtures start ("none": dense-only; "bm25": hybrid). The vector service's
# dense conformance suite needs dense-only; the ask path's tests (tests/core/test_pipeline.py)
# run on both kinds, and the demo and `ragfood doctor`'s tests on hybrid ones.
PRODUCT_INDEX_SPARSE = "none"


def pytest_configure(config: pytest.Config) -> None:
    # A suite started in the background by a non-interactive shell (`make test &`) inherits
    # SIGINT ignored, and so would every CLI it starts: the Ctrl-C tests could never interrupt
    # them. A handler (unlike "ignored") is reset to the default in each child.
    if signal.getsignal(signal.SIGINT) == signal.SIG_IGN:
        signal.signal(signal.SIGINT, signal.default_int_handler)


@pytest.fixture
def silent_endpoint() -> Iterator[str]:
    """A TCP port that takes connections and never answers (a black-holed route, such as
    a function in a VPC with no way to DynamoDB, or an index behind a dead proxy)."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(64)  # connections complete in the backlog; nothing is ever read
        yield f"http://127.0.0.1:{listener.getsockname()[1]}"


@pytest.fixture(scope="session")
def vector_server() -> Iterator[VectorServer]:
    with VectorServer(embedder="hash", sparse=PRODUCT_INDEX_SPARSE) as server:
        yield server


@pytest.fixture(scope="session")
def minilm_server() -> Iterator[VectorServer]:
    with VectorServer(
        embedder="minilm", sparse=PRODUCT_INDEX_SPARSE, startup_timeout=120
    ) as server:
        yield server


@pytest.fixture
def fresh_namespace(request: pytest.FixtureRequest) -> str:
    """A namespace no other test uses (named after the test, for readable failures)."""
    name = "".join(c if c.isalnum() else "-" for c in request.node.name)[:60]
    return f"t{next(_namespace_numbers)}-{name}"


@pytest.fixture
def start_vector_server() -> Iterator[Callable[..., VectorServer]]:
    """``start_vector_server(**options)`` -> a started VectorServer, stopped after the test."""
    started: list[VectorServer] = []

    def start(**options: Any) -> VectorServer:
        options.setdefault("sparse", PRODUCT_INDEX_SPARSE)
        server = VectorServer(**options)
        started.append(server)
        return server.start()

    yield start
    for server in reversed(started):
        server.stop()


@pytest.fixture(scope="session")
def generator_stub() -> Iterator[GeneratorStub]:
    with GeneratorStub() as stub:
        yield stub


@pytest.fixture
def stub(generator_stub: GeneratorStub) -> GeneratorStub:
    generator_stub.reset()
    return generator_stub


@pytest.fixture(scope="session")
def moto_endpoint() -> Iterator[str]:
    from moto.server import ThreadedMotoServer  # imported by the suites that reach AWS only

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()
