"""The invocation's deadline when the app is served by uvicorn under Lambda Web Adapter.

There the handler in app.py is not called (no context object): the adapter sends the invocation
context as the `x-amzn-lambda-context` header instead. Every ask of the request then ends before
Lambda stops the function, as under Mangum. A header a client sends itself can only make its own
ask's deadline sooner (scopes keep the earliest deadline), never later.
"""

from __future__ import annotations

from starlette.types import ASGIApp, Receive, Scope, Send

from ragfood import budget, services

HEADER = b"x-amzn-lambda-context"


class InvocationDeadline:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            value = next((v for k, v in scope["headers"] if k.lower() == HEADER), None)
            remaining_ms = budget.remaining_ms_from_header(value)
            if remaining_ms is not None:
                with budget.within(services.invocation_deadline(remaining_ms)):
                    await self.app(scope, receive, send)
                return
        await self.app(scope, receive, send)
