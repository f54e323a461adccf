"""Request and response bodies of the ask API (also its OpenAPI schema)."""

# No `from __future__ import annotations`: pydantic would evaluate every annotation from its
# string again when it builds the models, ~0.3 ms of each cold start (docs/performance.md).

from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field

from ragfood.pipeline import MAX_QUESTION_CHARS
from ragfood.sessions import SESSION_ID

Label = Annotated[str, Field(min_length=1, max_length=100)]
# allow_inf_nan: the JSON parser accepts NaN, which the bound checks would misname ("<= 1")
Score = Annotated[float, Field(ge=0.0, le=1.0, strict=True, allow_inf_nan=False)]


class AskRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    question: Annotated[str, Field(min_length=1, max_length=MAX_QUESTION_CHARS)]
    # strict: "5" is a client mistake to report, not a number to guess (uploads are strict too)
    top_k: Annotated[int, Field(ge=1, le=20, strict=True)] | None = None
    region: Label | None = None
    type: Label | None = None
    min_score: Score | None = None
    session_id: (
        Annotated[
            str,
            Field(
                pattern=SESSION_ID.pattern,
                description="From a previous answer, to ask a follow-up in the same conversation",
            ),
        ]
        | None
    ) = None


class Source(BaseModel):
    id: str
    text: str
    region: str | None
    type: str | None
    score: float


class GeneratorInfo(BaseModel):
    kind: str = Field(description="ollama, openai, extractive (quoted sources) or none")
    model: str | None


class AskResponse(BaseModel):
    answer: str
    sources: list[Source]
    generator: GeneratorInfo
    degraded: bool = Field(
        description="true when the generator failed or ran out of time and sources were quoted"
    )
    reason: str | None = None
    timings_ms: dict[str, float]
    cached: bool = False
    session_id: str = Field(
        description="Send it back with the next question to follow up (a new one when the one "
        "sent was unknown or expired)"
    )
    resolved_question: str = Field(
        description="The question as answered: a follow-up made standalone with the session"
    )


class ErrorBody(BaseModel):
    error: str
    dependency: str | None = None
    details: list[dict[str, Any]] | None = None
