"""POST /ask: the whole answer in one JSON body (served by Mangum on Lambda)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from fastapi import FastAPI, params

from askapi.schemas import AskRequest, AskResponse
from ragfood import services, telemetry
from ragfood.pipeline import AskOptions


def options_of(request: AskRequest) -> AskOptions:
    return AskOptions(
        top_k=request.top_k, min_score=request.min_score, region=request.region, type=request.type
    )


def ask(request: AskRequest) -> dict[str, Any]:
    exchange = services.conversations().ask(
        request.question, options_of(request), session_id=request.session_id
    )
    telemetry.record_answer(exchange.answer)
    return exchange.as_dict()


def register(app: FastAPI, *, dependencies: Sequence[params.Depends]) -> None:
    """Add the route to the app itself, not through an included router: FastAPI builds an
    included router's route twice (on the router at import, then again with the app's context at
    its first request), ~0.7 ms of the ask function's cold start (docs/performance.md)."""
    app.post("/ask", response_model=AskResponse, dependencies=dependencies)(ask)
