"""POST /ask: the whole answer in one JSON body (served by Mangum on Lambda)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from askapi.schemas import AskRequest, AskResponse
from ragfood import services, telemetry
from ragfood.pipeline import AskOptions

router = APIRouter()


@router.post("/ask", response_model=AskResponse)
def ask(request: AskRequest) -> dict[str, Any]:
    options = AskOptions(
        top_k=request.top_k, min_score=request.min_score, region=request.region, type=request.type
    )
    answer = services.pipeline().ask(request.question, options)
    telemetry.record_answer(answer)
    return answer.as_dict()
