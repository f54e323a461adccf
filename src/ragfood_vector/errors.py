"""The exception request handling raises; the server turns it into Upstash's error shape."""

from __future__ import annotations


class ApiError(Exception):
    """A failed request, answered as HTTP ``status`` with ``{"error": ..., "status": ...}``."""

    def __init__(self, status: int, message: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.headers = headers or {}


def bad_request(message: str) -> ApiError:
    return ApiError(400, message)


def unprocessable(message: str) -> ApiError:
    """422: what Upstash's references answer for a request this index cannot serve (text on an
    index without embedding model, a vector of the wrong dimension)."""
    return ApiError(422, message)
