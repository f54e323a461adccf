"""Cold start: fresh-process import + init of each handler next to its dependency floor.

    .venv/bin/python bench/bench_cold_start.py [--runs 10]

Each figure is the median over fresh interpreters of the time to run the snippet (imports included;
interpreter start-up excluded). "floor" imports only the handler's third-party dependencies;
"handler" loads functions/<name>/app.py exactly as Lambda would (module-level clients included).
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

TIMER = """
import time, sys
started = time.perf_counter()
{code}
print((time.perf_counter() - started) * 1000)
"""

LOAD_HANDLER = """
import importlib.util
spec = importlib.util.spec_from_file_location("app", "{path}")
module = importlib.util.module_from_spec(spec)
spec.loader.exec_module(module)
"""

SNIPPETS = {
    # Floors import the handler's third-party dependencies and create the Powertools objects
    # every Powertools handler creates (Tracer() is what loads the X-Ray SDK).
    "ask floor": (
        "import fastapi, mangum, httpx, upstash_vector\n"
        "from aws_lambda_powertools import Logger, Tracer\n"
        "Logger(); Tracer()"
    ),
    "ask handler": LOAD_HANDLER.format(path=REPO / "functions" / "ask" / "app.py"),
    "ingest floor": (
        "import boto3, httpx, upstash_vector\n"
        "from aws_lambda_powertools import Logger, Metrics, Tracer\n"
        "from aws_lambda_powertools.utilities.data_classes import S3Event, event_source\n"
        "Logger(); Tracer(); Metrics(namespace='x'); boto3.client('s3')"
    ),
    "ingest handler": LOAD_HANDLER.format(path=REPO / "functions" / "ingest" / "app.py"),
    "core deps": (
        "import httpx, pydantic, tenacity, cachetools, upstash_vector\n"
        "from aws_lambda_powertools import Logger"
    ),
    "core deps + ragfood": (
        "import httpx, pydantic, tenacity, cachetools, upstash_vector\n"
        "from aws_lambda_powertools import Logger\n"
        "import ragfood.services, ragfood.sync, ragfood.ingest"
    ),
}

ENV = {
    "POWERTOOLS_TRACE_DISABLED": "true",  # no X-Ray daemon here; Lambda pays for tracing too
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_ACCESS_KEY_ID": "bench",
    "AWS_SECRET_ACCESS_KEY": "bench",
}


def time_snippet(code: str, runs: int) -> float:
    samples = []
    for _ in range(runs):
        out = subprocess.run(
            [sys.executable, "-c", TIMER.format(code=code)],
            capture_output=True,
            text=True,
            env={**os.environ, **ENV},
            check=True,
        )
        samples.append(float(out.stdout.strip().splitlines()[-1]))
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
    parser.add_argument("--runs", type=int, default=10)
    args = parser.parse_args()
    times = {name: time_snippet(code, args.runs) for name, code in SNIPPETS.items()}
    rows = [
        [
            "ask",
            times["ask floor"],
            times["ask handler"],
            times["ask handler"] - times["ask floor"],
        ],
        [
            "ingest",
            times["ingest floor"],
            times["ingest handler"],
            times["ingest handler"] - times["ingest floor"],
        ],
        [
            "ragfood core",
            times["core deps"],
            times["core deps + ragfood"],
            times["core deps + ragfood"] - times["core deps"],
        ],
    ]
    print_table(
        f"Cold import + init, median of {args.runs} fresh processes (ms)",
        ["what", "dependency floor", "with our code", "overhead"],
        rows,
    )
    print(f"\n  layer size: {layer_size_mb()}")


if __name__ == "__main__":
    main()
