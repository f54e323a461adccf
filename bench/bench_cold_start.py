"""Cold start: fresh-process import + init of each handler next to its dependency floor.

    .venv/bin/python bench/bench_cold_start.py [--runs 10]

Each figure is the median over fresh interpreters of the CPU time to run the snippet (imports
included; interpreter start-up excluded). "floor" imports only the handler's third-party
dependencies; "handler" loads functions/<name>/app.py exactly as Lambda would (module-level
clients included).
Also: what importing the `ragfood` core adds to its own dependencies, and the layer size after
`sam build` when a build exists.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path

from _common import REPO, median, print_table

# CPU time, not wall time: imports are CPU-bound, and on a shared 2-core VM wall time swings by
# tens of milliseconds between identical runs.
TIMER = """
import time, sys
started = time.process_time()
{code}
print((time.process_time() - started) * 1000)
"""

LOAD_HANDLER = """
import importlib.util, os, sys
sys.path.insert(0, os.path.dirname("{path}"))  # Lambda puts the function's folder first
spec = importlib.util.spec_from_file_location("app", "{path}")
module = importlib.util.module_from_spec(spec)
spec.loader.exec_module(module)
"""

# Pydantic loads most of itself lazily, on the first model a program defines; every pydantic user
# pays that once, so floors that use pydantic define one trivial model.
WARM_PYDANTIC = "from pydantic import BaseModel\nclass _Warm(BaseModel):\n    x: int = 0\n"
ASK_IMPORTS = (
    "import fastapi, mangum, httpx, upstash_vector\n"
    "from aws_lambda_powertools import Logger, Tracer\n"
    "Logger(); Tracer()\n"
)
HELLO_FASTAPI = (
    "from pydantic import BaseModel\n"
    "class Q(BaseModel):\n    question: str\n"
    "app = fastapi.FastAPI()\n"
    "@app.post('/ask')\n"
    "def ask(q: Q) -> dict:\n    return {}\n"
    "handler = mangum.Mangum(app, lifespan='off')\n"
)
SNIPPETS = {
    # Floors: the handler's third-party imports and the Powertools objects every Powertools
    # handler creates (Tracer() is what loads the X-Ray SDK).
    "ask floor": ASK_IMPORTS,
    # The same plus the framework's own minimum: a FastAPI app with one JSON-body route in Mangum.
    "ask hello": ASK_IMPORTS + HELLO_FASTAPI,
    "ask handler": LOAD_HANDLER.format(path=REPO / "functions" / "ask" / "app.py"),
    "ingest floor": (
        "import boto3, httpx, upstash_vector\n"
        "from aws_lambda_powertools import Logger, Metrics, Tracer\n"
        "from aws_lambda_powertools.utilities.data_classes import S3Event, event_source\n"
        "Logger(); Tracer(); Metrics(namespace='x'); boto3.client('s3')\n" + WARM_PYDANTIC
    ),
    "ingest handler": LOAD_HANDLER.format(path=REPO / "functions" / "ingest" / "app.py"),
}
CORE_IMPORT = "import ragfood.services, ragfood.sync, ragfood.ingest"
CORE_DEPS = (
    "import httpx, tenacity, cachetools, upstash_vector\n"
    "from aws_lambda_powertools import Logger\n" + WARM_PYDANTIC
)

ENV = {
    "POWERTOOLS_TRACE_DISABLED": "true",  # no X-Ray daemon here; Lambda pays for tracing too
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_ACCESS_KEY_ID": "bench",
    "AWS_SECRET_ACCESS_KEY": "bench",
}


def time_once(code: str) -> float:
    out = subprocess.run(
        [sys.executable, "-c", TIMER.format(code=code)],
        capture_output=True,
        text=True,
        env={**os.environ, **ENV},
        check=True,
    )
    return float(out.stdout.strip().splitlines()[-1])


def time_all(runs: int) -> dict[str, float]:
    """Median per snippet; runs are interleaved so that drifts in machine load hit all alike."""
    samples: dict[str, list[float]] = {name: [] for name in SNIPPETS}
    for _ in range(runs):
        for name, code in SNIPPETS.items():
            samples[name].append(time_once(code))
    return {name: median(values) for name, values in samples.items()}


def core_self_ms(runs: int) -> float:
    """What importing `ragfood` adds: the self time of its own modules (python -X importtime),
    with its third-party dependencies imported first."""
    samples = []
    for _ in range(runs):
        out = subprocess.run(
            [sys.executable, "-X", "importtime", "-c", f"{CORE_DEPS}\n{CORE_IMPORT}"],
            capture_output=True,
            text=True,
            env={**os.environ, **ENV},
            check=True,
        )
        total_us = 0
        for line in out.stderr.splitlines():
            fields = line.split("|")
            if len(fields) == 3 and fields[2].strip().startswith("ragfood"):
                total_us += int(fields[0].split(":")[1])
        samples.append(total_us / 1000)
    return median(samples)


def layer_size_mb() -> str:
    for build in (REPO / ".aws-sam" / "build", Path("/tmp/ragfood-sam-build")):
        layer = build / "CoreLayer"
        if layer.is_dir():
            size = sum(f.stat().st_size for f in layer.rglob("*") if f.is_file())
            return f"{size / 1e6:.1f} MB unzipped ({layer})"
    return "no sam build found (run `make sam-build`)"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=15)
    args = parser.parse_args()
    times = time_all(args.runs)
    rows = [
        ["ask", "imports", times["ask floor"], times["ask handler"] - times["ask floor"]],
        [
            "ask",
            "imports + hello-world app",
            times["ask hello"],
            times["ask handler"] - times["ask hello"],
        ],
        [
            "ingest",
            "imports",
            times["ingest floor"],
            times["ingest handler"] - times["ingest floor"],
        ],
    ]
    print_table(
        f"Cold import + init, median CPU ms over {args.runs} fresh processes each",
        ["handler", "floor", "floor ms", "handler over floor ms"],
        [[*row[:2], row[2], row[3]] for row in rows],
    )
    print(
        f"\n  handlers: ask {times['ask handler']:.0f} ms, ingest {times['ingest handler']:.0f} ms"
    )
    print(f"  importing ragfood (own modules, -X importtime): {core_self_ms(args.runs):.1f} ms")
    print(f"\n  layer size: {layer_size_mb()}")


if __name__ == "__main__":
    main()
