"""The API's one error shape, and the status each failure maps to.

`describe(exc)` is used both by the exception handlers (buffered answers) and by the stream's
`error` event, so a client sees the same status and body whichever route it called.
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from askapi.schemas import ErrorBody
from ragfood.errors import ConfigError, VectorError, VectorUnavailable
from ragfood.pipeline import InvalidQuestion

logger = Logger(child=True)

# The error responses of every route, for the OpenAPI document. Only the first names the model:
# FastAPI builds a pydantic adapter for each response that names one (~0.15 ms of the cold start
# each, per route); the others refer to the schema that one puts in the document, which is what
# FastAPI would write for them (the document is the same).
_ERROR_BODY = {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorBody"}}}
RESPONSES: dict[int | str, dict[str, Any]] = {
    422: {"model": ErrorBody, "description": "The request is invalid"},
    502: {"content": _ERROR_BODY, "description": "A dependency is misconfigured"},
    503: {"content": _ERROR_BODY, "description": "A dependency is unavailable"},
    504: {"content": _ERROR_BODY, "description": "A dependency timed out"},
}


def body(message: str, **extra: Any) -> dict[str, Any]:
    return ErrorBody(error=message, **extra).model_dump(exclude_none=True)


def error_response(status: int, message: str, **extra: Any) -> JSONResponse:
    return JSONResponse(status_code=status, content=body(message, **extra))


def describe(exc: Exception) -> tuple[int, dict[str, Any]]:
    """(HTTP status, error body) for a failure of the ask path; logs what operators need."""
    if isinstance(exc, InvalidQuestion):
        return 422, body(f"invalid request: {exc}")
    if isinstance(exc, VectorError):
        logger.error("vector index failed", extra={"error": str(exc), "kind": type(exc).__name__})
        # Unavailable is worth retrying later (503/504); anything else needs an operator (502).
        status = 502
        if isinstance(exc, VectorUnavailable):
            status = 504 if "timed out" in str(exc) else 503
        return status, body(str(exc), dependency="vector-index")
    if isinstance(exc, ConfigError):
        logger.error("service misconfigured", extra={"error": str(exc)})
        return 503, body(f"service is not configured: {exc}", dependency="configuration")
    logger.exception("unexpected error")
    return 500, body("internal error; see the function's logs")


def _invalid_request(_: Request, exc: RequestValidationError) -> JSONResponse:
    details = [{"field": _field(err), "message": err["msg"]} for err in exc.errors()]
    summary = "; ".join(f"{d['field']}: {d['message']}" for d in details)
    return error_response(422, f"invalid request: {summary}", details=details)


def _field(err: dict[str, Any]) -> str:
    if err["type"] == "json_invalid":
        return "body"  # its loc is a character offset, not a field
    loc = [str(part) for part in err["loc"]]
    return ".".join(loc[1:] if loc[:1] == ["body"] else loc) or "body"


def _http_error(_: Request, exc: StarletteHTTPException) -> JSONResponse:
    # 404/405/400 from routing or body parsing, in the API's one error shape.
    message = str(exc.detail)
    if exc.status_code == 400 and "parsing the body" in message:
        # FastAPI raises it from what the JSON parser raised: name the mistake the client made.
        if isinstance(exc.__cause__, RecursionError):
            message = "the request body is nested too deeply to read; send flat JSON"
        else:
            message = "the request body could not be read; send UTF-8 encoded JSON"
    return error_response(exc.status_code, message)


def _failed(_: Request, exc: Exception) -> JSONResponse:
    status, content = describe(exc)
    return JSONResponse(status_code=status, content=content)


def register(app: FastAPI) -> None:
    app.add_exception_handler(RequestValidationError, _invalid_request)  # type: ignore[arg-type]
    app.add_exception_handler(StarletteHTTPException, _http_error)  # type: ignore[arg-type]
    for kind in (InvalidQuestion, VectorError, ConfigError, Exception):
        app.add_exception_handler(kind, _failed)
