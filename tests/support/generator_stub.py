"""A small Ollama- and OpenAI-protocol server on 127.0.0.1 for tests and benchmarks.

It answers from the prompt it is given (quoting source [1]), so answers are grounded and checkable.
Its behaviour can be switched while it runs: slow, failing, garbage, unknown model, streaming that
breaks midway, trickling forever (one token every `trickle_s` seconds, never finishing: what
per-read timeouts cannot catch). It records every request so tests can count round trips.

Run alone (for measuring by hand): `python -m tests.support.generator_stub --mode trickle`.
"""

from __future__ import annotations

import contextlib
import json
import re
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Literal

REWRITE_MARKER = "You rewrite a follow-up question"  # ragfood.followup.REWRITE_INSTRUCTIONS
Mode = Literal["ok", "fail", "garbage", "empty", "break_stream", "trickle"]


@dataclass
class StubState:
    mode: Mode = "ok"
    delay_s: float = 0.0
    trickle_s: float = 1.0  # mode "trickle": seconds between tokens
    stall_after: int | None = None  # mode "trickle": go silent (connection open) after N tokens
    models: tuple[str, ...] = ("llama3.2", "stub-model")
    requests: list[dict[str, Any]] = field(default_factory=list)
    rewrite_to: str | None = None  # the reply to follow-up rewrite requests (None: a quote)
    word_delay_s: float = 0.0  # streamed answers: a pause before each word (slow but finishing)
    closed: threading.Event = field(default_factory=threading.Event)  # ends open trickles
    open_streams: int = 0  # trickles still being written (a client that hung up ends its own)
    fail_status: int = 500  # mode "fail": the status answered
    # modes "fail" and "garbage": the answer echoes the credentials, as some proxies do
    fail_echo: bool = False
    openai_done: bool = True  # False: OpenAI streams end with finish_reason only, no [DONE]

    def reply_for(self, messages: list[dict[str, str]]) -> str:
        rewrite = bool(messages) and messages[0]["content"].startswith(REWRITE_MARKER)
        if rewrite and self.rewrite_to is not None:
            # A follow-up rewrite request (ragfood.followup), answered as told; with None, like
            # a model that ignored the instructions and answered from a source.
            return self.rewrite_to
        prompt = messages[-1]["content"] if messages else ""
        match = re.search(r"^\[1\] (.+)$", prompt, re.MULTILINE)
        quoted = match.group(1)[:160] if match else "nothing"
        return f"According to the knowledge base, {quoted} [1]"


class GeneratorStub:
    """Context manager: `with GeneratorStub() as stub: stub.url ...`."""

    def __init__(self, port: int = 0) -> None:
        self.state = StubState()
        handler = _make_handler(self.state)
        self._server = ThreadingHTTPServer(("127.0.0.1", port), handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    @property
    def request_count(self) -> int:
        return len(self.state.requests)

    def open_streams_after(self, timeout_s: float = 5.0) -> int:
        """The trickles still open once none is, or after `timeout_s`: a client that hung up (or
        cut the generation) is noticed at the stub's next token."""
        until = time.monotonic() + timeout_s
        while self.state.open_streams and time.monotonic() < until:
            time.sleep(0.1)
        return self.state.open_streams

    def reset(self) -> None:
        self.state.mode, self.state.delay_s, self.state.trickle_s = "ok", 0.0, 1.0
        self.state.stall_after = None
        self.state.requests.clear()
        self.state.rewrite_to, self.state.word_delay_s = None, 0.0
        self.state.fail_status, self.state.fail_echo = 500, False
        self.state.openai_done = True
        # Trickles started before now end (a stalled one whose client hung up never notices):
        # the next test, sharing this stub, starts with no stream open.
        self.state.closed.set()
        self.state.closed = threading.Event()

    def __enter__(self) -> GeneratorStub:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.state.closed.set()  # ends trickles nobody hung up on
        self._server.shutdown()
        self._server.server_close()


def _make_handler(state: StubState) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args: object) -> None:  # keep test output clean
            return

        def do_GET(self) -> None:
            state.requests.append({"path": self.path, "method": "GET"})
            if self.path == "/api/tags":
                self._json(200, {"models": [{"name": m} for m in state.models]})
            elif self.path.endswith("/models"):
                self._json(200, {"data": [{"id": m} for m in state.models]})
            else:
                self._json(404, {"error": "not found"})

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = json.loads(self.rfile.read(length) or b"{}")
            state.requests.append(
                {"path": self.path, "method": "POST", "body": body, "headers": dict(self.headers)}
            )
            if state.delay_s:
                time.sleep(state.delay_s)
            openai = self.path.endswith("/chat/completions")
            if not openai and self.path != "/api/chat":
                self._json(404, {"error": "not found"})
                return
            if body.get("model") not in state.models:
                error = f"model '{body.get('model')}' not found"
                self._json(404, {"error": {"message": error}} if openai else {"error": error})
                return
            if state.mode == "fail":
                error = "stub generator failure"
                if state.fail_echo:
                    error += f" (Authorization: {self.headers.get('Authorization')})"
                self._json(state.fail_status, {"error": error})
                return
            if state.mode == "garbage":
                key = (self.headers.get("Authorization") or "").removeprefix("Bearer ")
                echo = f"API key {key} refused. " if state.fail_echo else ""
                self._raw(200, f"<html>{echo}this is not json".encode(), "text/html")
                return
            if state.mode == "trickle":
                self._trickle(body["model"], openai, bool(body.get("stream")))
                return
            text = "" if state.mode == "empty" else state.reply_for(body.get("messages", []))
            if body.get("stream"):
                self._stream(text, body["model"], openai)
            elif openai:
                message = {"role": "assistant", "content": text}
                self._json(200, {"model": body["model"], "choices": [{"message": message}]})
            else:
                message = {"role": "assistant", "content": text}
                self._json(200, {"model": body["model"], "message": message, "done": True})

        def _stream(self, text: str, model: str, openai: bool) -> None:
            self.send_response(200)
            kind = "text/event-stream" if openai else "application/x-ndjson"
            self.send_header("Content-Type", kind)
            self.send_header("Connection", "close")
            self.end_headers()
            words = text.split(" ")
            for n, word in enumerate(words):
                if state.mode == "break_stream" and n == len(words) // 2:
                    self.wfile.flush()
                    self.connection.close()  # the generator dies midway
                    return
                if state.word_delay_s:
                    time.sleep(state.word_delay_s)
                piece = word if n == 0 else " " + word
                if openai:
                    chunk = {"model": model, "choices": [{"delta": {"content": piece}}]}
                    self.wfile.write(b"data: " + json.dumps(chunk).encode() + b"\n\n")
                else:
                    chunk = {"model": model, "message": {"content": piece}, "done": False}
                    self.wfile.write(json.dumps(chunk).encode() + b"\n")
                self.wfile.flush()
            end = b"data: [DONE]\n\n" if openai else json.dumps({"done": True}).encode() + b"\n"
            if openai and not state.openai_done:  # as some OpenAI-compatible servers end
                last = {"model": model, "choices": [{"delta": {}, "finish_reason": "stop"}]}
                end = b"data: " + json.dumps(last).encode() + b"\n\n"
            self.wfile.write(end)
            self.wfile.flush()
            self.close_connection = True

        def _trickle(self, model: str, openai: bool, stream: bool) -> None:
            """One token every `trickle_s` seconds, forever (until the client hangs up)."""
            self.send_response(200)
            if stream:
                kind = "text/event-stream" if openai else "application/x-ndjson"
            else:  # a JSON body that never completes: whitespace is valid before a value
                kind = "application/json"
            self.send_header("Content-Type", kind)
            self.send_header("Connection", "close")
            self.end_headers()
            self.close_connection = True
            closed = state.closed  # the one of this stream's time (reset swaps it)
            state.open_streams += 1
            try:
                n = 0
                while not closed.is_set():
                    if state.stall_after is not None and n >= state.stall_after:
                        closed.wait()  # silent, connection open, until a reset or the end
                        break
                    piece = "slowly" if n == 0 else " slowly"
                    if not stream:
                        data = b" "
                    elif openai:
                        chunk = {"model": model, "choices": [{"delta": {"content": piece}}]}
                        data = b"data: " + json.dumps(chunk).encode() + b"\n\n"
                    else:
                        chunk = {"model": model, "message": {"content": piece}, "done": False}
                        data = json.dumps(chunk).encode() + b"\n"
                    self.wfile.write(data)
                    self.wfile.flush()
                    n += 1
                    closed.wait(state.trickle_s)
            except OSError:  # the client hung up: what a deadline-bound client does
                pass
            finally:
                state.open_streams -= 1

        def _json(self, status: int, payload: Any) -> None:
            self._raw(status, json.dumps(payload).encode(), "application/json")

        def _raw(self, status: int, data: bytes, kind: str) -> None:
            self.send_response(status)
            self.send_header("Content-Type", kind)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

    return Handler


def main() -> None:
    """Serve a stub generator until interrupted (for measuring by hand)."""
    import argparse

    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, default=11434)
    parser.add_argument("--mode", default="ok", choices=Mode.__args__)  # type: ignore[attr-defined]
    parser.add_argument("--trickle-s", type=float, default=1.0)
    args = parser.parse_args()
    with GeneratorStub(args.port) as stub:
        stub.state.mode, stub.state.trickle_s = args.mode, args.trickle_s
        print(f"generator stub ({args.mode}) on {stub.url}", flush=True)
        with contextlib.suppress(KeyboardInterrupt):
            threading.Event().wait()


if __name__ == "__main__":
    main()
