"""Ask function: a FastAPI app behind API Gateway, adapted to Lambda with Mangum.

Routes: POST /ask, GET /health, and the OpenAPI docs at /docs. Client mistakes get a 4xx JSON body
naming the field; upstream failures get 502/503/504 naming the dependency; nothing ever returns a
stack trace.
"""

from __future__ import annotations

import os
from typing import Annotated, Any

from aws_lambda_powertools import Logger, Tracer
from aws_lambda_powertools.utilities.typing import LambdaContext
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from mangum import Mangum
from pydantic import BaseModel, ConfigDict, Field
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Receive, Scope, Send

from ragfood import budget, services
from ragfood.errors import ConfigError, VectorError, VectorUnavailable
from ragfood.pipeline import MAX_QUESTION_CHARS, AskOptions, InvalidQuestion

logger = Logger()
tracer = Tracer()

Label = Annotated[str, Field(min_length=1, max_length=100)]


class AskRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    question: Annotated[str, Field(min_length=1, max_length=MAX_QUESTION_CHARS)]
    # strict: "5" is a client mistake to report, not a number to guess (uploads are strict too)
    top_k: Annotated[int, Field(ge=1, le=20, strict=True)] | None = None
    region: Label | None = None
    type: Label | None = None
    min_score: Annotated[float, Field(ge=0.0, le=1.0, strict=True)] | None = None


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
    degraded: bool = Field(description="true when the generator failed and sources were quoted")
    reason: str | None = None
    timings_ms: dict[str, float]
    cached: bool = False


class ErrorBody(BaseModel):
    error: str
    dependency: str | None = None
    details: list[dict[str, Any]] | None = None


app = FastAPI(
    title="RAGFood Ask API",
    version="0.1.0",
    description="Grounded answers about food from a curated knowledge base, with their sources.",
    responses={
        422: {"model": ErrorBody, "description": "The request is invalid"},
        502: {"model": ErrorBody, "description": "A dependency is misconfigured"},
        503: {"model": ErrorBody, "description": "A dependency is unavailable"},
        504: {"model": ErrorBody, "description": "A dependency timed out"},
    },
)


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


app.add_middleware(JsonBodies)
if stage := os.environ.get("RAGFOOD_API_ROOT_PATH", "").rstrip("/"):
    app.add_middleware(StagePrefix, prefix=stage)


@app.post("/ask", response_model=AskResponse)
def ask(request: AskRequest) -> dict[str, Any]:
    options = AskOptions(
        top_k=request.top_k, min_score=request.min_score, region=request.region, type=request.type
    )
    return services.pipeline().ask(request.question, options).as_dict()


@app.get("/health")
def health() -> dict[str, Any]:
    """Liveness and configuration, without touching dependencies (so it is cheap to poll)."""
    settings = services.settings()
    return {
        "status": "ok",
        "vector_configured": bool(settings.vector_url),
        "generator": settings.generator_api if settings.generator_url else "extractive",
    }


@app.exception_handler(RequestValidationError)
def _invalid_request(_: Request, exc: RequestValidationError) -> JSONResponse:
    details = [{"field": _field(err), "message": err["msg"]} for err in exc.errors()]
    summary = "; ".join(f"{d['field']}: {d['message']}" for d in details)
    return _error(422, f"invalid request: {summary}", details=details)


def _field(err: dict[str, Any]) -> str:
    if err["type"] == "json_invalid":
        return "body"  # its loc is a character offset, not a field
    loc = [str(part) for part in err["loc"]]
    return ".".join(loc[1:] if loc[:1] == ["body"] else loc) or "body"


@app.exception_handler(StarletteHTTPException)
def _http_error(_: Request, exc: StarletteHTTPException) -> JSONResponse:
    # 404/405/400 from routing or body parsing, in the API's one error shape.
    message = str(exc.detail)
    if exc.status_code == 400 and "parsing the body" in message:
        message = "the request body could not be read; send UTF-8 encoded JSON"
    return _error(exc.status_code, message)


@app.exception_handler(InvalidQuestion)
def _invalid_question(_: Request, exc: InvalidQuestion) -> JSONResponse:
    return _error(422, f"invalid request: {exc}")


@app.exception_handler(VectorError)
def _vector_failed(_: Request, exc: VectorError) -> JSONResponse:
    logger.error("vector index failed", extra={"error": str(exc), "kind": type(exc).__name__})
    # Unavailable is worth retrying later (503/504); anything else needs an operator (502).
    status = 502
    if isinstance(exc, VectorUnavailable):
        status = 504 if "timed out" in str(exc) else 503
    return _error(status, str(exc), dependency="vector-index")


@app.exception_handler(ConfigError)
def _misconfigured(_: Request, exc: ConfigError) -> JSONResponse:
    logger.error("service misconfigured", extra={"error": str(exc)})
    return _error(503, f"service is not configured: {exc}", dependency="configuration")


@app.exception_handler(Exception)
def _unexpected(_: Request, exc: Exception) -> JSONResponse:
    logger.exception("unexpected error")
    return _error(500, "internal error; see the function's logs")


def _error(status: int, message: str, **extra: Any) -> JSONResponse:
    body = ErrorBody(error=message, **extra).model_dump(exclude_none=True)
    return JSONResponse(status_code=status, content=body)


_asgi_adapter = Mangum(app, lifespan="off")


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    # Every ask in this invocation ends before the function (or API Gateway) gives up.
    with budget.within(services.invocation_deadline(context.get_remaining_time_in_millis())):
        return _asgi_adapter(event, context)
