"""The API key, declared in the OpenAPI schema so that the docs' "Authorize" button sends it.

API Gateway enforces the key (usage plan) before a request reaches the function; the app only
declares it (auto_error=False), so nothing here rejects a request, and `ragfood serve` checks it
locally with `--api-key`.
"""

from __future__ import annotations

from fastapi import Security
from fastapi.security import APIKeyHeader

API_KEY_HEADER = "x-api-key"

api_key = APIKeyHeader(
    name=API_KEY_HEADER,
    scheme_name="ApiKey",
    description="The API key of the stack (output ApiKeyValueCommand prints it); "
    "API Gateway checks it on every route but /health and the docs.",
    auto_error=False,
)

# For routes that need the key: include_router(..., dependencies=REQUIRES_API_KEY), or
# askapi.routes.ask.register(app, dependencies=REQUIRES_API_KEY)
REQUIRES_API_KEY = [Security(api_key)]
