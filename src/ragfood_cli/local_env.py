"""The embedded default: with no Upstash settings, the CLI talks to `ragfood vector serve`."""

from __future__ import annotations

import os

# The local service's defaults (ragfood_vector.config; tests/cli/test_cli_start.py checks that
# they agree), spelled out so that everyday commands (ask, ingest) never import the service.
LOCAL_URL = "http://127.0.0.1:8787"
DEFAULT_TOKEN = "local-dev-token"
DEFAULT_READONLY_TOKEN = "local-dev-readonly-token"


def apply_local_defaults() -> bool:
    """Point the core at the local vector service unless Upstash is configured. True if applied."""
    if os.environ.get("UPSTASH_VECTOR_REST_URL"):
        return False
    os.environ["UPSTASH_VECTOR_REST_URL"] = LOCAL_URL
    os.environ.setdefault("UPSTASH_VECTOR_REST_TOKEN", DEFAULT_TOKEN)
    os.environ.setdefault("UPSTASH_VECTOR_REST_READONLY_TOKEN", DEFAULT_READONLY_TOKEN)
    return True


def quiet_logs(verbose: bool, *, text_errors: bool = False) -> None:
    """Structured JSON logs are for Lambda; on a terminal only errors, unless --verbose.

    `text_errors` (commands that run no Lambda handler): unless --verbose or a log level was set,
    the core logs its errors as text on stderr and never imports Powertools (ragfood.log)."""
    if text_errors and not verbose and "POWERTOOLS_LOG_LEVEL" not in os.environ:
        os.environ.setdefault("RAGFOOD_LOG_FORMAT", "text")
    if text_errors:  # stdout is the command's result (--json must parse), logs go to stderr
        os.environ.setdefault("RAGFOOD_LOG_STREAM", "stderr")
    os.environ.setdefault("POWERTOOLS_LOG_LEVEL", "INFO" if verbose else "ERROR")
