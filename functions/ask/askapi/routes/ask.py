"""POST /ask: the whole answer in one JSON body (served by Mangum on Lambda)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from askapi.schemas import AskRequest, AskResponse
from ragfood import services, telemetry
from ragfood.pipeline import AskOptions

router = APIRouter()


def options_of(request: AskRequest) -> AskOptions:
    return AskOptions(
        top_k=request.top_k, min_score=request.min_score, region=request.region, type=request.type
    )


@router.post("/ask", response_model=AskResponse)
def ask(request: AskRequest) -> dict[str, Any]:
    exchange = services.conversations().ask(
        request.question, options_of(request), session_id=request.session_id
    )
    telemetry.record_answer(exchange.answer)
    return exchange.as_dict()
