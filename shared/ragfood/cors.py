"""Which web origins may call the ask API from a browser (CORS), from RAGFOOD_CORS_ORIGINS.

Off unless configured: the deployed template sets the variable from its `CorsAllowOrigin`
parameter (empty by default). The app answers preflights itself, so one setting governs both the
preflight and the headers on every answer; API Gateway only adds the header to the errors it makes
itself (missing key, throttling), see infra/template.yaml.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from typing import Any

from ragfood.errors import ConfigError

CORS_ENV = "RAGFOOD_CORS_ORIGINS"
# A pattern string: `re` compiles it (once) only where origins are configured.
_ORIGIN = r"^https?://[A-Za-z0-9.\-]+(:[0-9]{1,5})?$"


def allowed_origins(environ: Mapping[str, str] = os.environ) -> list[str]:
    """The configured origins ("*" or `scheme://host[:port]`, comma-separated), or [] for off."""
    raw = environ.get(CORS_ENV, "")
    origins = [part.strip().rstrip("/") for part in raw.split(",") if part.strip()]
    for origin in origins:
        if origin != "*" and not re.match(_ORIGIN, origin):
            raise ConfigError(
                f"{CORS_ENV}: {origin!r} is not an origin; give '*' or scheme://host[:port] "
                "(no path), comma-separated"
            )
    return ["*"] if "*" in origins else origins


def middleware_options(origins: list[str]) -> dict[str, Any]:
    """Options for Starlette's CORSMiddleware: what a browser page needs to call the API."""
    return {
        "allow_origins": origins,
        "allow_methods": ["GET", "POST", "OPTIONS"],
        # x-api-key: the key API Gateway checks; content-type: JSON bodies trigger a preflight.
        "allow_headers": ["content-type", "x-api-key", "authorization"],
        "allow_credentials": False,  # the API key is a header, not a cookie
        "max_age": 600,  # browsers cache the preflight: fewer OPTIONS calls reach the function
    }
