"""Fixtures for the core: gateways and pipelines wired to real local servers over HTTP."""

from __future__ import annotations

import httpx
import pytest
from pydantic import SecretStr

from ragfood.retry import RetryPolicy
from ragfood.transport import StdlibTransport
from ragfood.vector import VectorGateway, make_client
from ragfood_vector.launcher import VectorServer

FAST_RETRIES = RetryPolicy(max_attempts=6, initial_s=0.01, max_s=0.05)


class CountingTransport(StdlibTransport):
    """A real HTTP transport that counts the requests it puts on the wire (retries included)."""

    def __init__(self) -> None:
        super().__init__()
        self.count = 0

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        self.count += 1
        return super().handle_request(request)


def make_gateway(
    server: VectorServer,
    *,
    write: bool = True,
    transport: httpx.BaseTransport | None = None,
    policy: RetryPolicy = FAST_RETRIES,
    batch_size: int = 500,
    parallelism: int = 4,
    timeout_s: float = 10.0,
) -> VectorGateway:
    token = server.token if write else server.readonly_token
    client = make_client(policy, timeout_s, inner=transport)
    return VectorGateway(
        server.url, SecretStr(token), client, batch_size=batch_size, parallelism=parallelism
    )


@pytest.fixture
def gateway(vector_server: VectorServer) -> VectorGateway:
    return make_gateway(vector_server)
