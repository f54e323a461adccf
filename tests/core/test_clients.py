"""Cold-start economy of the ask path's clients: one TLS context per process, one httpx client per
destination, nothing built to be thrown away (each CA bundle load costs ~50 ms of CPU)."""

from __future__ import annotations

import ssl
from collections.abc import Iterator

import httpx
import pytest

from ragfood import services, transport


@pytest.fixture
def counted(monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, int]]:
    counts = {"ca_loads": 0, "clients": 0}
    load_verify_locations = ssl.SSLContext.load_verify_locations
    client_init = httpx.Client.__init__

    def counting_load(self, *args, **kwargs):
        counts["ca_loads"] += 1
        return load_verify_locations(self, *args, **kwargs)

    def counting_init(self, *args, **kwargs):
        counts["clients"] += 1
        client_init(self, *args, **kwargs)

    monkeypatch.setattr(ssl.SSLContext, "load_verify_locations", counting_load)
    monkeypatch.setattr(httpx.Client, "__init__", counting_init)
    transport.shared_ssl_context.cache_clear()
    services.reset()
    yield counts
    transport.shared_ssl_context.cache_clear()
    services.reset()


def test_ask_pipeline_builds_one_tls_context_and_one_client_per_destination(counted, monkeypatch):
    monkeypatch.setenv("UPSTASH_VECTOR_REST_URL", "https://example-vector.upstash.io")
    monkeypatch.setenv("UPSTASH_VECTOR_REST_READONLY_TOKEN", "read-only-token")
    monkeypatch.delenv("UPSTASH_VECTOR_REST_READONLY_TOKEN_PARAM", raising=False)
    monkeypatch.setenv("GENERATOR_URL", "https://generator.example.com")
    monkeypatch.delenv("GENERATOR_API_KEY_PARAM", raising=False)
    services.pipeline()
    assert counted == {"ca_loads": 1, "clients": 2}  # the index and the generator


def test_plain_http_destinations_load_no_ca_bundle(counted, monkeypatch):
    monkeypatch.setenv("UPSTASH_VECTOR_REST_URL", "http://127.0.0.1:8787")
    monkeypatch.setenv("UPSTASH_VECTOR_REST_READONLY_TOKEN", "read-only-token")
    monkeypatch.delenv("UPSTASH_VECTOR_REST_READONLY_TOKEN_PARAM", raising=False)
    monkeypatch.setenv("GENERATOR_URL", "")
    services.pipeline()
    assert counted == {"ca_loads": 0, "clients": 1}
