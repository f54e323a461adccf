"""The errors the core raises, grouped by who must act on them.

Callers (handlers, CLI) map these to exit codes and HTTP statuses; every message is written for the
person who has to fix the problem and never contains a secret.
"""

from __future__ import annotations


class RagfoodError(Exception):
    """Base of every error the core raises on purpose."""


class ConfigError(RagfoodError):
    """A setting is missing or malformed; the message names the environment variable."""


class FoodFileError(RagfoodError):
    """The uploaded knowledge base cannot be read at all (not UTF-8, not JSON, not an array...)."""

    def __init__(self, source: str, reason: str) -> None:
        super().__init__(f"{source}: {reason}")
        self.source = source
        self.reason = reason


class VectorError(RagfoodError):
    """Base of every failure talking to the vector index."""

    status: int | None = None
    # Set when it stopped an ingest: that ingest's report so far (what had been written).
    report: object | None = None

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        if status is not None:
            self.status = status


class VectorUnavailable(VectorError):
    """Transient: rate limited, 5xx, timeout or refused connection, still failing after retries."""


class VectorUnreachable(VectorUnavailable):
    """No answer at all (connection refused or reset, unknown host): the index is not running
    there or the URL is wrong, which is what the CLI tells the user to check."""


class VectorQuotaExceeded(VectorError):
    """A daily or monthly quota of the index is used up: retrying before it resets cannot help."""


class VectorAuthError(VectorError):
    """401/403: wrong token, or a read-only token used for a write. Retrying cannot help."""


class VectorRequestError(VectorError):
    """400: the index rejected the request (bad filter, limit exceeded...)."""


class VectorIndexMisconfigured(VectorError):
    """The index itself cannot serve us: no embedding model, or a dimension we did not expect."""


class GeneratorError(RagfoodError):
    """Base of every failure of the answer generator; the pipeline degrades on these."""


class GeneratorUnreachable(GeneratorError):
    """Connection refused or name not resolved."""


class GeneratorTimeout(GeneratorError):
    """The generator did not answer within the configured timeout."""


class GeneratorHTTPError(GeneratorError):
    """The generator answered with a non-2xx status."""

    def __init__(self, message: str, status: int) -> None:
        super().__init__(message)
        self.status = status


class GeneratorModelNotFound(GeneratorHTTPError):
    """The configured model is not available on the generator host."""


class GeneratorBadResponse(GeneratorError):
    """The generator answered 2xx but the body is not what its protocol promises."""
