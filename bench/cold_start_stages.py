"""The ask function's cold start stage by stage: where its CPU goes beyond the hello-world's.

    make sam-build && .venv/bin/python bench/cold_start_stages.py [--runs 21]
    .venv/bin/python bench/cold_start_stages.py --build before=/tmp/b0 --build now=.aws-sam/build

A whole cold start moves by +-10 ms from run to run on a shared machine, more than a step of a few
milliseconds saves; one step's CPU moves far less. So, in the same read-only sandbox as
bench_cold_start.py (bench/lambda_sandbox.py, the same services, events/api-ask.json), each fresh
interpreter imports the ask function's modules step by step, in the order the handler loads them
(what the hello-world imports first, then the libraries only we use, then ours), then the handler,
then invokes it once; the CPU of each step is recorded. Builds are interleaved (one cold start of
each in turn); the table gives each step's median. "invoke" is the first invocation after all
these imports (the conversation code, which the first ask loads, is a step of its
own), "total" the process's import + first invocation as bench_cold_start.py measures it, and the
last column the median of the paired differences (each run against the first build's run).
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
from pathlib import Path

import bench_cold_start as cold
from _common import REPO, median, print_table
from lambda_sandbox import (
    BOOTSTRAP,
    Function,
    make_read_only,
    make_writable,
    run_cold_start,
    runtime_dir,
)

# (step, what it imports): each step's CPU is what it adds to the ones before it.
STEPS = [
    ("ragfood.startup (GC pause)", "from ragfood import startup"),
    (
        "hello-world's libraries",
        "from aws_lambda_powertools import Logger; from fastapi import FastAPI; "
        "from mangum import Mangum; from pydantic import BaseModel",
    ),
    ("httpx", "import httpx"),
    ("upstash-vector", "import upstash_vector"),
    ("cachetools, stemmers", "import cachetools, snowballstemmer"),
    ("ragfood.config (Settings)", "import ragfood.config"),
    ("ragfood.retry, .transport, .vector", "import ragfood.retry, ragfood.vector"),
    ("ragfood.generator", "import ragfood.generator"),
    ("ragfood.relevance, .retrieval", "import ragfood.relevance, ragfood.retrieval"),
    ("ragfood.pipeline", "import ragfood.pipeline"),
    ("ragfood.sessions, .services", "import ragfood.sessions, ragfood.services"),
    ("askapi.schemas (5 models)", "import askapi.schemas"),
    ("askapi.errors", "import askapi.errors"),
    ("askapi.routes.ask", "import askapi.routes.ask"),
    ("askapi.routes.stream", "import askapi.routes.stream"),
    ("askapi.routes.health, .page", "import askapi.routes.health, askapi.routes.page"),
    ("app (the app, its routes)", "import app"),
    ("ragfood.conversation", "import ragfood.conversation"),
]
# httpcore and h11 are not a step: ragfood.transport sends over http.client (a build from before
# it loads them in "invoke").
LIBRARIES = {"httpx", "upstash-vector", "cachetools, stemmers"}
HELLO = {"ragfood.startup (GC pause)", "hello-world's libraries"}


def staged_bootstrap() -> str:
    marks = "".join(
        f"exec({code!r}); marks.append(({name!r}, time.process_time()))\n" for name, code in STEPS
    )
    boot = BOOTSTRAP.replace(
        "module = importlib.import_module(module_name)",
        f"marks = []\n{marks}module = importlib.import_module(module_name)",
    )
    marks_out = '"marks": [(n, (t - cpu0) * 1000) for n, t in marks],'
    return boot.replace('"status": status,', f'"status": status, {marks_out}')


def run(function: Function, runtime: Path, scratch: Path, tracing: bool, memory: int) -> dict:
    result = run_cold_start(
        function, runtime, scratch, tracing=tracing, memory_mb=memory, bootstrap=staged_bootstrap()
    )
    if result["status"] != 200:
        raise RuntimeError(f"{function.label}: status {result['status']}: {result['result']}")
    return result


def stages(result: dict) -> dict[str, float]:
    """CPU ms of each step, the first invocation and the total."""
    found, before = {}, 0.0
    for name, at in result["marks"]:
        found[name] = at - before
        before = at
    found["sum: libraries only we use"] = sum(found[name] for name in LIBRARIES)
    found["sum: our modules"] = sum(
        ms for name, ms in list(found.items())[: len(STEPS)] if name not in LIBRARIES | HELLO
    )
    found["invoke (after these imports)"] = result["invoke_cpu"]
    found["total (import + 1st invoke)"] = result["import_cpu"] + result["invoke_cpu"]
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=21)
    parser.add_argument("--build", action="append", default=[], metavar="LABEL=DIR")
    args = parser.parse_args()
    builds = cold.sam_builds(args.build or [f"now={REPO / '.aws-sam' / 'build'}"])

    cold.CACHE.mkdir(exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="ragfood-stages-"))
    scratch = work / "scratch"
    scratch.mkdir()
    try:
        print("preparing read-only sandboxes ...", file=sys.stderr, flush=True)
        runtime = runtime_dir(cold.CACHE)
        layouts = {label: cold.prepare_build(label, b, work) for label, b in builds.items()}
        for path in work.iterdir():
            if path != scratch:
                make_read_only(path)
        samples: dict[str, list[dict[str, float]]] = {label: [] for label in builds}
        with cold.Services() as services:
            contenders = {}
            for label, layout in layouts.items():
                functions = cold.our_functions(
                    label, layout, builds[label] / "template.yaml", services
                )
                contenders[label] = functions[f"ask ({label})"]
                ingest = functions[f"ingest ({label})"]
            cold.run_cold_start(ingest[0], runtime, scratch, tracing=ingest[1])  # fills the index
            for function, tracing, memory in contenders.values():  # warm-up, not measured
                run(function, runtime, scratch, tracing, memory)
            for n in range(args.runs):
                for label, (function, tracing, memory) in contenders.items():
                    samples[label].append(stages(run(function, runtime, scratch, tracing, memory)))
                print(f"  run {n + 1}/{args.runs} done", file=sys.stderr, flush=True)
    finally:
        make_writable(work)
        shutil.rmtree(work, ignore_errors=True)

    labels = list(builds)
    first = labels[0]
    rows = []
    for step in samples[first][0]:
        kind = "library" if step in LIBRARIES else "hello" if step in HELLO else "ours"
        if step.startswith(("invoke", "total", "sum")):
            kind = ""
        row: list[object] = [step, kind]
        row += [median([s[step] for s in samples[label]]) for label in labels]
        for label in labels[1:]:
            pairs = zip(samples[label], samples[first], strict=True)
            row.append(f"{median([a[step] - b[step] for a, b in pairs]):+.2f}")
        rows.append(row)
    print_table(
        f"The ask function's cold start, step by step: median CPU ms of {args.runs} runs",
        ["step", "", *labels, *[f"{label} - {first} (paired)" for label in labels[1:]]],
        rows,
    )


if __name__ == "__main__":
    main()
