"""POST /ask/stream: the answer as server-sent events, token by token.

Events, in order: `sources` (the retrieved sources, before any token), `token` (each fragment as
the generator produces it), then exactly one of `done` (generator, degraded, reason, timings,
session_id, resolved_question) or `error` (the /ask error body plus the status /ask would have
answered). A body that fails validation is refused before the stream starts, with /ask's plain
422 JSON: nothing has been promised yet, and a client can tell it from the status.

The pipeline is synchronous and calls back from a worker thread; the callbacks hand events to
the event loop (call_soon_threadsafe) so the loop never blocks. When the client hangs up, the
next callback raises in the worker, which closes the generator's connection. Whatever the
generator does, the stream ends by the ask budget (plus a small grace for the pipeline's own
degraded answer): a watchdog here sends `done` with `degraded: true` if the worker has not.
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import AsyncIterator
from typing import Any

from fastapi import APIRouter
from fastapi.responses import StreamingResponse

from askapi import errors
from askapi.routes.ask import options_of
from askapi.schemas import AskRequest
from ragfood import budget, services, telemetry
from ragfood.budget import Deadline
from ragfood.sessions import new_session_id
from ragfood.vector import Hit

router = APIRouter()

GRACE_S = 1.0  # the pipeline degrades by the deadline itself; the watchdog only backs it up
HEADERS = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}

EVENTS_DOC = """Server-sent events: `sources` first, `token` per fragment, then `done` or `error`.

`event: done` data: `{"generator", "degraded", "reason", "timings_ms", "cached", "session_id",
"resolved_question"}`. `event: error` data: `{"error", "dependency"?, "status"}`."""


class ClientGone(Exception):
    """Raised in the worker when the client has hung up: it stops the generation."""


@router.post(
    "/ask/stream",
    response_class=StreamingResponse,
    description=EVENTS_DOC,
    responses={200: {"content": {"text/event-stream": {}}, "description": EVENTS_DOC}},
)
async def ask_stream(request: AskRequest) -> StreamingResponse:
    return StreamingResponse(_events(request), media_type="text/event-stream", headers=HEADERS)


def sse(event: str, data: Any) -> str:
    return f"event: {event}\ndata: {json.dumps(data, ensure_ascii=False)}\n\n"


async def _events(request: AskRequest) -> AsyncIterator[str]:
    started = time.perf_counter()
    loop = asyncio.get_running_loop()
    queue: asyncio.Queue[tuple[str, Any]] = asyncio.Queue()
    gone = threading.Event()
    # The budget, or the invocation's end if sooner (askapi.deadline, under Lambda Web Adapter).
    deadline = Deadline.after(services.settings().ask_budget_s).earliest(budget.current())
    context: dict[str, str] = {}

    def emit(event: str, data: Any) -> None:
        if gone.is_set():
            raise ClientGone
        loop.call_soon_threadsafe(queue.put_nowait, (event, data))

    def resolved(session_id: str, question: str) -> None:
        context.update(session_id=session_id, resolved_question=question)

    def sources(hits: list[Hit]) -> None:
        emit("sources", {"sources": [h.as_dict() for h in hits], **context})

    def work() -> None:
        try:
            exchange = services.conversations().ask(
                request.question,
                options_of(request),
                session_id=request.session_id,
                on_token=lambda text: emit("token", {"text": text}),
                on_sources=sources,
                on_resolved=resolved,
                deadline=deadline,
            )
            telemetry.record_answer(exchange.answer)
            if telemetry.metrics.metric_set:  # no Lambda handler here flushes them (run.sh)
                telemetry.metrics.flush_metrics()
            final = exchange.as_dict()
            del final["answer"], final["sources"]  # already sent, piece by piece
            emit("done", final)
        except ClientGone:
            pass
        except Exception as exc:
            status, body = errors.describe(exc)
            if not gone.is_set():
                loop.call_soon_threadsafe(queue.put_nowait, ("error", {**body, "status": status}))

    threading.Thread(target=work, name="ask-stream", daemon=True).start()
    # One fixed end for the whole stream (not per event: a trickle would keep renewing it).
    hard_end = Deadline.after(deadline.remaining() + GRACE_S)
    sent_sources = False
    try:
        while True:
            try:
                event, data = await asyncio.wait_for(queue.get(), timeout=hard_end.remaining())
            except TimeoutError:
                # Stuck before retrieval (a session store that does not answer): the events
                # still come as promised, sources (none) first, and `done` names the session.
                context.setdefault("session_id", request.session_id or new_session_id())
                context.setdefault("resolved_question", request.question)
                if not sent_sources:
                    yield sse("sources", {"sources": [], **context})
                yield sse("done", _out_of_time(context, started))
                return
            sent_sources = sent_sources or event == "sources"
            yield sse(event, data)
            if event in ("done", "error"):
                return
    finally:
        gone.set()  # the client hung up, or we are done: the worker stops at its next callback


def _out_of_time(context: dict[str, str], started: float) -> dict[str, Any]:
    generator = services.pipeline().generator
    return {
        "generator": {
            "kind": "extractive" if generator else "none",
            "model": generator.model if generator else None,
        },
        "degraded": True,
        "reason": (
            "the time budget for an answer ran out before the answer was complete "
            f"(RAGFOOD_ASK_BUDGET_S={services.settings().ask_budget_s:g})"
        ),
        "timings_ms": {"total": round((time.perf_counter() - started) * 1000, 1)},
        "cached": False,
        **context,
    }
