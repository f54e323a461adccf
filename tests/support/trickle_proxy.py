"""An HTTP proxy in front of a real service that makes its first answers trickle, forever.

The first `trickled` requests are forwarded and answered with the real status and headers, but
the body then comes one byte per `interval_s` and never ends (a slow-loris peer: every read gets
a byte before any read timeout). Later requests are forwarded and answered normally, or, past
`down_after` requests, answered 503 (a service going down in the middle of a sync).
"""

from __future__ import annotations

import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx


class TrickleProxy:
    def __init__(
        self,
        target_url: str,
        *,
        trickled: int = 1,
        interval_s: float = 0.2,
        down_after: int | None = None,
    ) -> None:
        self.target_url = target_url.rstrip("/")
        self.trickled = trickled
        self.down_after = down_after  # requests after this many are answered 503
        self.interval_s = interval_s
        self.requests = 0
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler_class())
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def __enter__(self) -> TrickleProxy:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stopping.set()  # trickling handlers end, closing their connections
        self._server.shutdown()
        self._server.server_close()

    def _count(self) -> int:
        """This request's number (the first is 1)."""
        with self._lock:
            self.requests += 1
            return self.requests

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                pass

            def do_GET(self) -> None:
                self._forward()

            def do_POST(self) -> None:
                self._forward()

            def _forward(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                number = proxy._count()
                if proxy.down_after is not None and number > proxy.down_after:
                    down = b'{"error":"Service is down."}'
                    self.send_response(503)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(down)))
                    self.end_headers()
                    self.wfile.write(down)
                    return
                trickle = number <= proxy.trickled
                headers = {k: v for k, v in self.headers.items() if k.lower() != "host"}
                answer = httpx.request(
                    self.command, proxy.target_url + self.path, content=body, headers=headers
                )
                self.send_response(answer.status_code)
                self.send_header("Content-Type", answer.headers.get("content-type", "text/plain"))
                if not trickle:
                    self.send_header("Content-Length", str(len(answer.content)))
                    self.end_headers()
                    self.wfile.write(answer.content)
                    return
                self.send_header("Content-Length", str(len(answer.content) + 1_000_000))
                self.end_headers()
                try:
                    while not proxy._stopping.is_set():
                        self.wfile.write(b" ")
                        self.wfile.flush()
                        time.sleep(proxy.interval_s)
                except OSError:  # the client gave up on us
                    pass
                self.close_connection = True

        return Handler
