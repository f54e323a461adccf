"""GET /: the web page (askapi/page/: one HTML file, its CSS and its JS; no build step).

The three files are put together into one response, so the page needs no other route and loads
nothing else: it works offline and under any stage path. Its Content-Security-Policy allows only
this page's own inline style and script (by hash) and requests to its own origin, so a browser
refuses any external resource even if one slipped in.
"""

from __future__ import annotations

import base64
import hashlib
from functools import cache
from pathlib import Path

from fastapi import APIRouter
from fastapi.responses import HTMLResponse

router = APIRouter()

PAGE = Path(__file__).resolve().parents[1] / "page"


def _sha256(text: str) -> str:
    return "'sha256-" + base64.b64encode(hashlib.sha256(text.encode()).digest()).decode() + "'"


@cache
def _page() -> tuple[str, dict[str, str]]:
    style = (PAGE / "style.css").read_text()
    script = (PAGE / "app.js").read_text()
    html = (PAGE / "index.html").read_text()
    html = html.replace("<style>/* style.css */</style>", f"<style>{style}</style>")
    html = html.replace("<script>// app.js</script>", f"<script>{script}</script>")
    policy = "; ".join(
        [
            "default-src 'none'",
            f"style-src {_sha256(style)}",
            f"script-src {_sha256(script)}",
            "connect-src 'self'",
            "img-src data:",
            "base-uri 'none'",
            "form-action 'none'",
            "frame-ancestors 'none'",
        ]
    )
    headers = {
        "Content-Security-Policy": policy,
        "X-Content-Type-Options": "nosniff",
        "Referrer-Policy": "no-referrer",
        "Cache-Control": "no-cache",
    }
    return html, headers


@router.get("/", response_class=HTMLResponse, include_in_schema=False)
def page() -> HTMLResponse:
    html, headers = _page()
    return HTMLResponse(html, headers=headers)
