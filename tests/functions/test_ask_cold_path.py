"""What the ask function's cold start (import + first ask) does NOT do, because it costs CPU on
every cold start and the answer does not need it (docs/performance.md, cold start, fourth pass).

One fresh interpreter imports functions/ask/app.py and answers events/api-ask.json against the
test index and generator, recording what the instrumented calls saw; each test reads one fact.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import pytest

from ragfood.sync import sync_foods
from ragfood_vector.launcher import VectorServer
from tests.core.conftest import make_gateway
from tests.functions.conftest import EVENTS, REPO
from tests.support.generator_stub import GeneratorStub
from tests.support.samples import GAZPACHO, MOCHI

PROBE = r"""
import dataclasses, json, re, sys, types
compiled = []
original_compile = re._compile
def recording_compile(pattern, flags):
    text = getattr(pattern, "pattern", pattern)
    if isinstance(text, str):
        compiled.append(text)
    return original_compile(pattern, flags)
re._compile = recording_compile

import pydantic
adapters = []
original_init = pydantic.TypeAdapter.__init__
def counting_init(self, *args, **kwargs):
    adapters.append(repr(args[0]) if args else "?")
    original_init(self, *args, **kwargs)
pydantic.TypeAdapter.__init__ = counting_init

sys.path.insert(0, sys.argv[1])
import app

adapters_at_import, adapters = adapters, []

class Context:
    function_name = "ask"
    function_version = "$LATEST"
    memory_limit_in_mb = 512
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:ask"
    aws_request_id = "00000000-0000-0000-0000-000000000000"
    def get_remaining_time_in_millis(self):
        return 29000

response = app.handler(json.load(open(sys.argv[2])), Context())

ours = [m for name, m in sys.modules.items() if name.startswith(("ragfood", "askapi"))]
records = sorted(
    f"{m.__name__}.{name}"
    for m in ours
    for name, value in vars(m).items()
    if isinstance(value, type) and value.__module__ == m.__name__
    and dataclasses.is_dataclass(value)
)
print(json.dumps({
    "status": response["statusCode"],
    "body": json.loads(response["body"]),
    "compiled": compiled,
    "adapters_built_at_import": adapters_at_import,
    "adapters_built_by_first_ask": adapters,
    "dataclasses": records,
    "modules": sorted(n for n in sys.modules if n.startswith(("ragfood", "httpcore", "h11"))),
}))
"""


@pytest.fixture(scope="module")
def stub() -> Iterator[GeneratorStub]:
    with GeneratorStub() as server:
        yield server


@pytest.fixture
def cold_start(
    vector_server: VectorServer, clean_index, function_env: dict[str, str], stub: GeneratorStub
) -> dict[str, Any]:
    sync_foods(json.dumps([GAZPACHO, MOCHI]).encode(), make_gateway(vector_server))
    result = subprocess.run(
        [
            sys.executable,
            "-c",
            PROBE,
            str(REPO / "functions" / "ask"),
            str(EVENTS / "api-ask.json"),
        ],
        env={
            **os.environ,
            **function_env,
            "GENERATOR_URL": stub.url,
            "RAGFOOD_MIN_SCORE": "0",  # a real first ask: sources, then a generation
            "AWS_LAMBDA_FUNCTION_NAME": "ask",
            "PYTHONDONTWRITEBYTECODE": "1",
        },
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    report = json.loads(result.stdout.splitlines()[-1])
    assert report["status"] == 200, report["body"]
    assert report["body"]["sources"] and report["body"]["generator"]["kind"] == "ollama"
    return report


def test_first_ask_builds_no_route(cold_start):
    # An included router's route is built twice: on the router at import, then again with the
    # app's context (its error responses, the API key) at its first request: six pydantic
    # adapters, ~1.3 ms. /ask is registered on the app itself, so it is built once, at import.
    assert cold_start["adapters_built_by_first_ask"] == []


def test_the_error_responses_build_one_adapter(cold_start):
    # FastAPI builds a pydantic adapter (~0.15 ms) for each documented response that names a
    # model: the error responses name ErrorBody once and refer to its schema otherwise
    # (askapi.errors.RESPONSES; the OpenAPI document is the same).
    error_body = [a for a in cold_start["adapters_built_at_import"] if "ErrorBody" in a]
    assert len(error_body) == 1, error_body


def test_error_path_patterns_are_not_compiled_by_a_normal_cold_start(cold_start):
    from ragfood import cors, redact, vector

    # Compiled (by `re`, on first use) only when a URL, an error or CORS origins show up.
    unused = [
        redact._SECRET_NAME,
        redact._URL,
        vector._QUOTA_WORDS,
        cors._ORIGIN,
    ]
    compiled = set(cold_start["compiled"])
    assert not [getattr(p, "pattern", p) for p in unused if getattr(p, "pattern", p) in compiled]


def test_the_ask_path_defines_no_dataclass(cold_start):
    # A dataclass compiles its generated methods when its module loads (~0.5 ms each); the
    # records of the ask path are NamedTuples (ragfood.relevance).
    assert cold_start["dataclasses"] == []


def test_a_first_question_does_not_load_the_follow_up_rules(cold_start):
    # A question with no earlier turn is asked as it is: ragfood.followup (~0.25 ms to import)
    # is loaded by the first follow-up, not by every cold start (ragfood.conversation).
    assert "ragfood.conversation" in cold_start["modules"]
    assert "ragfood.followup" not in cold_start["modules"]


def test_the_first_ask_does_not_load_httpcore(cold_start):
    # Our clients send through ragfood.transport (http.client, loaded anyway): httpx's own
    # transport would load httpcore and h11 at the first client, ~12 ms of CPU.
    assert "ragfood.transport" in cold_start["modules"]
    loaded = [m for m in cold_start["modules"] if m.split(".")[0] in ("httpcore", "h11")]
    assert loaded == []


def test_cold_path_models_are_built_from_evaluated_annotations():
    # Without `from __future__ import annotations`, pydantic gets the annotations as objects and
    # does not evaluate each one from its string again (~0.3 ms per module of models).
    sys.path.insert(0, str(REPO / "functions" / "ask"))
    try:
        from askapi import schemas
    finally:
        sys.path.remove(str(REPO / "functions" / "ask"))
    from ragfood.config import Settings

    for model in (
        Settings,
        schemas.AskRequest,
        schemas.AskResponse,
        schemas.Source,
        schemas.GeneratorInfo,
        schemas.ErrorBody,
    ):
        strings = [k for k, v in model.__annotations__.items() if isinstance(v, str)]
        assert not strings, (model.__name__, strings)
