"""The product's settings for a test run against the local vector service."""

from __future__ import annotations

from ragfood_vector.launcher import VectorServer


def ragfood_env(
    server: VectorServer,
    namespace: str | None = None,
    *,
    readonly: bool = False,
    quiet: bool = True,
    **extra: str,
) -> dict[str, str]:
    """Settings reading `server` (`namespace` if given; only its read-only token if `readonly`):
    no generator (extractive answers), the minimum score the hash embedder's scores call for,
    logs quiet but for errors unless not `quiet`, then `extra`."""
    env = server.client_env()
    if readonly:
        del env["UPSTASH_VECTOR_REST_TOKEN"]
    if namespace is not None:
        env["RAGFOOD_NAMESPACE"] = namespace
    env |= {"RAGFOOD_MIN_SCORE": "0.5", "GENERATOR_URL": ""}
    if quiet:
        env["POWERTOOLS_LOG_LEVEL"] = "ERROR"
    return env | extra
