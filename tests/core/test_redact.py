"""Credentials in URLs are hidden wherever a URL is shown: doctor, error messages, logs."""

from __future__ import annotations

import io
import logging
import os
import subprocess
import sys

import pytest

from ragfood.redact import RedactingFilter, redact_text, redact_url


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("https://user:pa55@gen.example.com/v1", "https://***@gen.example.com/v1"),
        ("http://tok3n@127.0.0.1:11434", "http://***@127.0.0.1:11434"),
        (
            "https://gen.example.com/v1?api_key=k3y&model=x&token=t0k",
            "https://gen.example.com/v1?api_key=***&model=x&token=***",
        ),
        ("https://x.example/?key=a&Signature=b&X-Amz-Credential=c", None),
        ("https://host.example/path", "https://host.example/path"),
    ],
)
def test_userinfo_and_secret_parameters_are_masked(url, shown):
    redacted = redact_url(url)
    if shown is not None:
        assert redacted == shown
    for secret in ("pa55", "tok3n", "k3y", "t0k", "=a", "=b", "=c"):
        assert secret not in redacted


def test_urls_inside_text_are_masked_and_the_rest_is_kept():
    text = "cannot reach http://u:s3cret@10.0.0.1:8080/x?token=abc (connection refused)"
    assert redact_text(text) == (
        "cannot reach http://***@10.0.0.1:8080/x?token=*** (connection refused)"
    )
    assert redact_text("no url here: key=value") == "no url here: key=value"


def test_log_records_lose_credentials_in_message_and_extras():
    stream = io.StringIO()
    log = logging.getLogger("redact-test")
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logging.Formatter("%(message)s %(target)s"))
    log.addHandler(handler)
    log.addFilter(RedactingFilter())
    log.warning(
        "calling %s", "https://u:pw1@h.example/?api_key=pw2", extra={"target": "http://pw3@h"}
    )
    out = stream.getvalue()
    assert "pw1" not in out and "pw2" not in out and "pw3" not in out and "***" in out


def test_the_core_logger_redacts():
    from ragfood.log import logger

    std = logging.getLogger(logger.name)  # the stdlib logger Powertools writes through
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logging.Formatter("%(message)s %(url)s"))
    saved_level, saved_disabled = std.level, std.disabled
    std.addHandler(handler)
    std.setLevel(logging.INFO)
    std.disabled = False
    try:
        logger.warning("probe", extra={"url": "https://user:hunter2@gen.example/v1?token=hunter3"})
    finally:
        std.removeHandler(handler)
        std.setLevel(saved_level)
        std.disabled = saved_disabled
    out = stream.getvalue()
    assert "hunter2" not in out and "hunter3" not in out
    assert "https://***@gen.example/v1?token=***" in out


def test_the_clis_text_logger_prints_errors_only_redacted_without_powertools():
    """RAGFOOD_LOG_FORMAT=text (the CLI's everyday commands, never Lambda): errors as text on
    stderr, nothing below ERROR, credentials hidden, Powertools not even imported."""
    probe = (
        "import sys\n"
        "from ragfood.log import logger\n"
        "logger.info('info line'); logger.warning('warning line')\n"
        "logger.error('failed calling %s', 'https://user:hunter2@gen.example/v1?token=hunter3')\n"
        "print('powertools' if 'aws_lambda_powertools' in sys.modules else 'no powertools')\n"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("POWERTOOLS_")}
    result = subprocess.run(
        [sys.executable, "-c", probe],
        env={**env, "RAGFOOD_LOG_FORMAT": "text"},
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert result.stdout.strip() == "no powertools"
    assert result.stderr.strip() == "failed calling https://***@gen.example/v1?token=***"
