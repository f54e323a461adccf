"""ASGI middleware of the ask app: bodies are JSON, and the app knows its stage prefix."""

from __future__ import annotations

from starlette.types import ASGIApp, Receive, Scope, Send


class JsonBodies:
    """Read every request body as JSON, whatever its Content-Type.

    `curl -d '{...}'` labels its body form-urlencoded, and clients forget the header; the API only
    ever speaks JSON, so a missing or wrong label should not turn a valid question into an error.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] in ("POST", "PUT", "PATCH"):
            headers = [(k, v) for k, v in scope["headers"] if k.lower() != b"content-type"]
            scope = {**scope, "headers": [*headers, (b"content-type", b"application/json")]}
        await self.app(scope, receive, send)


class StagePrefix:
    """Tell the app the URL prefix it is served under (API Gateway's stage, e.g. /v1), so that
    the docs page links to /v1/openapi.json; routing itself is unaffected."""

    def __init__(self, app: ASGIApp, prefix: str) -> None:
        self.app = app
        self.prefix = prefix

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and not scope.get("root_path"):
            scope = {**scope, "root_path": self.prefix}
        await self.app(scope, receive, send)
