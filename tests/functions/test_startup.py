"""Cold-start economy of the handler modules: no garbage collection while they initialize
(ragfood.startup, ~50 ms of the ask function's cold start), collection back on afterwards."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
PROBE = """
import gc, json, sys
collections = []
gc.callbacks.append(lambda phase, info: phase == "start" and collections.append(info["generation"]))
sys.path.insert(0, sys.argv[1])
import app
print(json.dumps({"collections": collections, "enabled": gc.isenabled(),
                  "frozen": gc.get_freeze_count()}))
"""


@pytest.mark.parametrize("function", ["ask", "ingest"])
def test_handler_module_initializes_without_garbage_collection(function):
    result = subprocess.run(
        [sys.executable, "-c", PROBE, str(REPO / "functions" / function)],
        env={**os.environ, "AWS_DEFAULT_REGION": "us-east-1", "PYTHONDONTWRITEBYTECODE": "1"},
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    state = json.loads(result.stdout.splitlines()[-1])
    # At most one, before the module's first line runs (without ragfood.startup: ~150, one of
    # them a full collection).
    assert len(state["collections"]) <= 1, state["collections"]
    assert state["enabled"]  # and back on for the invocations
    assert state["frozen"] > 10_000  # what initialization built is out of the collector's sight


ASK_PATH = ("ragfood.pipeline", "ragfood.generator", "ragfood.conversation", "ragfood.prompt")


def test_ingest_function_does_not_load_the_ask_path():
    # The ask code (pipeline, generator, prompt, follow-up) is ~60 ms of imports an ingest never
    # uses; ragfood.services builds it on demand only.
    probe = (
        "import json, sys; sys.path.insert(0, sys.argv[1]); import app; "
        "print(json.dumps(list(sys.modules)))"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe, str(REPO / "functions" / "ingest")],
        env={**os.environ, "AWS_DEFAULT_REGION": "us-east-1", "PYTHONDONTWRITEBYTECODE": "1"},
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    loaded = set(json.loads(result.stdout.splitlines()[-1]))
    assert loaded.isdisjoint(ASK_PATH), sorted(loaded & set(ASK_PATH))


SCAN_PROBE = """
import importlib.metadata, json, sys
scans = []
original = importlib.metadata.distributions
def recording(**kwargs):
    scans.append(kwargs)
    return original(**kwargs)
importlib.metadata.distributions = recording
sys.path.insert(0, sys.argv[1])
import app
print(json.dumps(len(scans)))
"""


@pytest.mark.parametrize(
    ("function", "logical_id"), [("ask", "AskFunction"), ("ingest", "IngestFunction")]
)
def test_deployed_functions_do_not_scan_installed_distributions(function, logical_id):
    # pydantic reads the entry points of every distribution on sys.path for plugins when it
    # builds its first model (~3 ms of each cold start); the template turns that off.
    from tests.infra.test_template import function_env, load_template

    deployed = {
        name: value
        for name, value in function_env(load_template(), logical_id).items()
        if isinstance(value, str)  # the parameters' references are not needed here
    }
    result = subprocess.run(
        [sys.executable, "-c", SCAN_PROBE, str(REPO / "functions" / function)],
        env={
            **os.environ,
            **deployed,
            "AWS_DEFAULT_REGION": "us-east-1",
            "PYTHONDONTWRITEBYTECODE": "1",
        },
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    assert json.loads(result.stdout.splitlines()[-1]) == 0
