"""`ragfood serve` for a web page on another origin: preflights pass without the key (as through
API Gateway), answers carry the allowed origin, the key is still required for /ask itself."""

from __future__ import annotations

import httpx

from tests.cli.test_processes import ingested  # noqa: F401 (fixture)
from tests.support.serve import ragfood_serve

ORIGIN = "http://localhost:5173"


def test_serve_lets_a_browser_page_call_the_api(cli_env, ingested):  # noqa: F811
    with ragfood_serve(
        {**cli_env, "RAGFOOD_CORS_ORIGINS": ORIGIN}, "--api-key", "local-key"
    ) as base:
        preflight = httpx.options(
            f"{base}/ask",
            headers={
                "Origin": ORIGIN,
                "Access-Control-Request-Method": "POST",
                "Access-Control-Request-Headers": "content-type,x-api-key",
            },
        )
        question = {"question": "Vietnamese beef noodle soup"}
        answer = httpx.post(
            f"{base}/ask", json=question, headers={"Origin": ORIGIN, "x-api-key": "local-key"}
        )
        keyless = httpx.post(f"{base}/ask", json=question, headers={"Origin": ORIGIN})
    assert preflight.status_code == 200
    assert preflight.headers["access-control-allow-origin"] == ORIGIN
    assert answer.status_code == 200 and answer.headers["access-control-allow-origin"] == ORIGIN
    assert keyless.status_code == 403
