"""Credentials never leave in a URL: the one place that hides them, for doctor, errors and logs.

A URL can carry a secret two ways: userinfo (`https://user:pass@host`) and query parameters
(`?api_key=...`, `?token=...`). Both are replaced by `***`; the rest of the URL (scheme, host,
port, path, other parameters) stays, because that is what a person needs to find a mistake.
"""

from __future__ import annotations

import logging
import re
from urllib.parse import SplitResult, parse_qsl, quote, urlsplit, urlunsplit

MASK = "***"
# Patterns, not compiled objects: `re` compiles them on first use (and keeps them), so the
# processes that never meet a URL in a message or a log line (a normal cold start) never pay
# for compiling them (~0.3 ms of CPU; docs/performance.md, cold start, fourth pass).
# Query parameter names that hold credentials (matched anywhere in the name, any case).
_SECRET_NAME = r"(?i)key|token|secret|passw|pwd|auth|credential|signature|^sig$|session|cookie"
_URL = r"\b[a-zA-Z][a-zA-Z0-9+.\-]*://[^\s'\"<>]+"
# Bearer or basic credentials in free text, whoever's: a broken gateway may answer with our headers.
_CREDENTIAL = r"(?i)\b(bearer|basic)\s+[^\s\"'<>,;]+"


def redact_url(url: str) -> str:
    """The URL with its userinfo and secret-looking query values replaced by ***."""
    try:
        parts = urlsplit(url)
        netloc = parts.netloc
        if "@" in netloc:
            netloc = f"{MASK}@{netloc.rpartition('@')[2]}"
        query = "&".join(
            f"{quote(name, safe='')}={MASK if _is_secret(name) else quote(value, safe='')}"
            for name, value in parse_qsl(parts.query, keep_blank_values=True)
        )
        return urlunsplit(SplitResult(parts.scheme, netloc, parts.path, query, parts.fragment))
    except ValueError:  # not parseable as a URL: show nothing of it rather than a secret
        return f"{url.split('://', 1)[0]}://{MASK}" if "://" in url else MASK


def _is_secret(name: str) -> bool:
    return re.search(_SECRET_NAME, name) is not None


def redact_text(text: str) -> str:
    """Every URL inside free text (an error message, a log line) passed through redact_url."""
    if "://" not in text:
        return text
    return re.sub(_URL, lambda match: redact_url(match.group(0)), text)


def redact_credentials(text: str, secret: str = "") -> str:
    """A peer's text, fit to repeat: `secret` (ours, should the peer echo it back) and any bearer
    or basic credential masked. Before any cut to length: a cut could split one and show its start.
    """
    if secret:
        text = text.replace(secret, MASK)
    return re.sub(_CREDENTIAL, lambda match: f"{match.group(1)} {MASK}", text)


class RedactingFilter(logging.Filter):
    """Logging filter: URLs in the message, its arguments and string extras lose their secrets."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.msg, str):
            record.msg = redact_text(record.msg)
        if isinstance(record.args, tuple):
            record.args = tuple(redact_text(a) if isinstance(a, str) else a for a in record.args)
        for name, value in list(vars(record).items()):
            if isinstance(value, str) and "://" in value and name not in ("msg", "pathname"):
                setattr(record, name, redact_text(value))
        return True
