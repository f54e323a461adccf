"""Bearer-token access control: a read-write token and a read-only token, as on Upstash."""

from __future__ import annotations

import hmac

from ragfood_vector.errors import ApiError

READ_OPERATIONS = frozenset(
    {
        "query",
        "query-data",
        "fetch",
        "range",
        "info",
        "list-namespaces",
        "resumable-query",
        "resumable-query-data",
        "resumable-query-next",
        "resumable-query-end",
    }
)
WRITE_OPERATIONS = frozenset(
    {"upsert", "upsert-data", "update", "delete", "reset", "delete-namespace"}
)

UNAUTHORIZED = "Unauthorized: Invalid auth token"


def _bearer(header: str | None) -> str | None:
    if not header:
        return None
    scheme, _, credentials = header.partition(" ")
    if scheme.lower() != "bearer" or not credentials.strip():
        return None
    return credentials.strip()


def authorize(header: str | None, operation: str, *, token: str, readonly_token: str) -> None:
    """Raise 401 for a missing or unknown token, 403 for a write with the read-only token."""
    presented = _bearer(header)
    if presented is None:
        raise ApiError(401, UNAUTHORIZED)
    # Constant-time comparison: the service may listen beyond loopback.
    if hmac.compare_digest(presented.encode(), token.encode()):
        return
    if hmac.compare_digest(presented.encode(), readonly_token.encode()):
        if operation in READ_OPERATIONS:
            return
        raise ApiError(
            403, f"Forbidden: the read-only token is not allowed to perform '{operation}'"
        )
    raise ApiError(401, UNAUTHORIZED)
