"""The core's structured logger (Powertools). Handlers name the service via POWERTOOLS_SERVICE_NAME;
loggers with the same service share one handler, so core and handler lines carry the same keys.

One exception, never set in Lambda: the `ragfood` CLI's everyday commands show only errors, as
text (ragfood_cli.local_env.quiet_logs). They set RAGFOOD_LOG_FORMAT=text and get the standard
library's logger of the same name, at level ERROR: errors print on stderr without Powertools being
imported at all (~19 ms of CPU of every such command).
"""

from __future__ import annotations

import logging
import os
import sys
from typing import TYPE_CHECKING

from ragfood.redact import RedactingFilter

if TYPE_CHECKING:
    from aws_lambda_powertools import Logger

SERVICE = os.environ.get("POWERTOOLS_SERVICE_NAME", "ragfood")


def _core_logger() -> Logger | logging.Logger:
    if os.environ.get("RAGFOOD_LOG_FORMAT") == "text":
        text = logging.getLogger(SERVICE)
        text.setLevel(logging.ERROR)
        return text
    from aws_lambda_powertools import Logger

    # The CLI's own commands print their result (--json) on stdout: their logs go to stderr.
    stream = sys.stderr if os.environ.get("RAGFOOD_LOG_STREAM") == "stderr" else None
    return Logger(service=SERVICE, stream=stream)


logger = _core_logger()
logger.addFilter(RedactingFilter())  # no credentials in a logged URL (ragfood.redact)
