"""`ragfood serve` for a web page on another origin: preflights pass without the key (as through
API Gateway), answers carry the allowed origin, the key is still required for /ask itself."""

from __future__ import annotations

import subprocess

import httpx

from ragfood_vector.launcher import free_port
from tests.cli.conftest import RAGFOOD
from tests.cli.test_processes import ingested, wait_until_up  # noqa: F401 (fixture)

ORIGIN = "http://localhost:5173"


def test_serve_lets_a_browser_page_call_the_api(cli_env, ingested):  # noqa: F811
    port = free_port()
    process = subprocess.Popen(
        [str(RAGFOOD), "serve", "--port", str(port), "--api-key", "local-key"],
        env={**cli_env, "RAGFOOD_CORS_ORIGINS": ORIGIN},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        base = f"http://127.0.0.1:{port}"
        wait_until_up(f"{base}/health")
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
    finally:
        process.terminate()
        process.wait(10)
    assert preflight.status_code == 200
    assert preflight.headers["access-control-allow-origin"] == ORIGIN
    assert answer.status_code == 200 and answer.headers["access-control-allow-origin"] == ORIGIN
    assert keyless.status_code == 403
