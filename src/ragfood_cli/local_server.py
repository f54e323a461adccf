"""The ask API for `ragfood serve`: the very FastAPI app of the ask function, plus an optional
API-key check standing in for API Gateway's (which the deployed function sits behind)."""

from __future__ import annotations

import secrets

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response
from starlette.middleware.base import BaseHTTPMiddleware, RequestResponseEndpoint

from ragfood_cli.lambda_runner import load_function_module

# The page is public, as on API Gateway: it asks for the key itself when /ask/stream needs one.
OPEN_PATHS = frozenset(
    {"/", "/health", "/docs", "/openapi.json", "/docs/oauth2-redirect", "/redoc"}
)


class ApiKeyMiddleware(BaseHTTPMiddleware):
    def __init__(self, app: FastAPI, api_key: str) -> None:
        super().__init__(app)
        self._key = api_key

    async def dispatch(self, request: Request, call_next: RequestResponseEndpoint) -> Response:
        # CORS preflights carry no key (browsers never send one); API Gateway lets them through.
        if request.url.path not in OPEN_PATHS and request.method != "OPTIONS":
            given = request.headers.get("x-api-key", "")
            if not secrets.compare_digest(given.encode(), self._key.encode()):
                # API Gateway's own wording and status for a missing or wrong key.
                return JSONResponse({"message": "Forbidden"}, status_code=403)
        return await call_next(request)


def build_app(api_key: str | None = None) -> FastAPI:
    app: FastAPI = load_function_module("ask").app
    if api_key:
        app.add_middleware(ApiKeyMiddleware, api_key=api_key)
    return app
