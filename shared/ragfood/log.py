"""The core's structured logger (Powertools). Handlers name the service via POWERTOOLS_SERVICE_NAME;
loggers with the same service share one handler, so core and handler lines carry the same keys."""

from __future__ import annotations

import os

from aws_lambda_powertools import Logger

from ragfood.redact import RedactingFilter

logger = Logger(service=os.environ.get("POWERTOOLS_SERVICE_NAME", "ragfood"))
logger.addFilter(RedactingFilter())  # no credentials in a logged URL (ragfood.redact)
