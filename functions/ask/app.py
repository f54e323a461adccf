"""Ask function: the FastAPI app, served by Mangum here (handler) and by uvicorn under AWS Lambda
Web Adapter for the streaming route (run.sh). One app module; only the serving differs.

Routes: POST /ask, POST /ask/stream (server-sent events; deployed through Lambda Web Adapter),
GET / (the web page), GET /health, and the OpenAPI docs at /docs. Client mistakes get a 4xx JSON
body naming the field; upstream failures get 502/503/504 naming the dependency; nothing ever
returns a stack trace. The parts live in askapi/ (schemas, errors, middleware, routes, page).
"""

from __future__ import annotations

# First: no garbage collection while the function initializes (initialized() at the end).
from ragfood import startup  # isort: skip

import os
from typing import TYPE_CHECKING, Any

from aws_lambda_powertools import Logger
from fastapi import FastAPI
from mangum import Mangum

from askapi import errors
from askapi.deadline import InvocationDeadline
from askapi.middleware import JsonBodies, StagePrefix
from askapi.routes import ask, health, page, stream
from askapi.security import REQUIRES_API_KEY
from ragfood import budget, cors, services
from ragfood.telemetry import publish_metrics

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.typing import LambdaContext

logger = Logger()

app = FastAPI(
    title="RAGFood Ask API",
    version="0.1.0",
    description="Grounded answers about food from a curated knowledge base, with their sources.",
    responses=errors.RESPONSES,
)
app.add_middleware(JsonBodies)
app.add_middleware(InvocationDeadline)  # under Lambda Web Adapter; the handler's scope otherwise
if stage := os.environ.get("RAGFOOD_API_ROOT_PATH", "").rstrip("/"):
    app.add_middleware(StagePrefix, prefix=stage)
if origins := cors.allowed_origins():  # added last: outermost, so every answer carries it
    from fastapi.middleware.cors import CORSMiddleware  # only paid for where CORS is on

    app.add_middleware(CORSMiddleware, **cors.middleware_options(origins))
errors.register(app)
ask.register(app, dependencies=REQUIRES_API_KEY)
app.include_router(stream.router, dependencies=REQUIRES_API_KEY)
app.include_router(health.router)
app.include_router(page.router)


_asgi_adapter = Mangum(app, lifespan="off")


# No Powertools Tracer: Lambda's active tracing records each invocation without the X-Ray SDK
# (docs/deploy.md), and the SDK cost ~150 ms of every cold start. Per-stage latency goes out as
# metrics (ragfood.telemetry), flushed once per invocation.
@publish_metrics
@logger.inject_lambda_context(clear_state=True)
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    # Every ask in this invocation ends before the function (or API Gateway) gives up.
    with budget.within(services.invocation_deadline(context.get_remaining_time_in_millis())):
        return _asgi_adapter(event, context)


startup.initialized()  # last: initialization is over
