"""The ask function's cold start on other Python versions: would a newer runtime start faster?

    make sam-build
    .venv/bin/python bench/cold_start_python.py --python ~/.pyenv/versions/3.13.0/bin/python3.13

Builds the CoreLayer and the ask function with the same recipes as `sam build`
(infra/lambda-build.mk, bytecode for that Python: LAMBDA_PYTHON, LAMBDA_PY_MINOR), for this
machine's platform, and the hello-world built our way (bench_cold_start.py) likewise; then runs
them in bench_cold_start.py's sandbox (bench/lambda_sandbox.py) under that interpreter,
interleaved, with the ask function's variables from the template. The index is filled by the
ingest function of the current `sam build` (python3.11). Prints the median CPU of import + first
invocation and the ratios; run it once per Python, 3.11 included, and compare the ratios.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import bench_cold_start as cold
import lambda_sandbox as sandbox
from _common import REPO, median, print_table
from lambda_sandbox import Function, make_read_only, make_writable, runtime_dir, template_function


def build(work: Path, python: str, minor: str) -> dict[str, Path]:
    """Our layer and ask function, the hello-world's layer and function, for `python`."""
    source = work / "src"
    ignore = shutil.ignore_patterns("__pycache__")
    for part in ("shared", "infra", "functions/ask"):
        shutil.copytree(REPO / part, source / part, ignore=ignore)
    layer_make, function_make = source / "shared" / "Makefile", source / "functions/ask/Makefile"
    built = {name: work / name for name in ("layer", "ask")}
    cold.build_with_recipe(source / "shared", layer_make, built["layer"], python, minor)
    cold.build_with_recipe(source / "functions/ask", function_make, built["ask"], python, minor)
    built["hello-layer"], built["hello-task"] = cold.build_hello_ours(
        work, "hello", cold.HELLO_LAYER_REQUIREMENTS, {"app.py": cold.HELLO_APP}, python, minor
    )
    return built


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--python", required=True, help="the interpreter to build for and run")
    parser.add_argument("--runs", type=int, default=11)
    args = parser.parse_args()
    python = str(Path(args.python).expanduser())
    minor = subprocess.run(
        [python, "-c", "import sys; print('%d.%d' % sys.version_info[:2])"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()
    current = REPO / ".aws-sam" / "build"
    if not (current / "template.yaml").is_file():
        sys.exit("no build in .aws-sam/build: run `make sam-build` (its ingest fills the index)")

    cold.CACHE.mkdir(exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="ragfood-python-"))
    scratch = work / "scratch"
    scratch.mkdir()
    try:
        print(f"building for Python {minor} ...", file=sys.stderr, flush=True)
        built = build(work / "build", python, minor)
        current_layout = cold.prepare_build("current", current, work)
        for path in work.iterdir():
            if path != scratch:
                make_read_only(path)
        runtime = runtime_dir(cold.CACHE)
        with cold.Services() as services:
            ingest, tracing_ingest, _ = cold.our_functions(
                "current", current_layout, current / "template.yaml", services
            )["ingest (current)"]
            sandbox.run_cold_start(ingest, runtime, scratch, tracing=tracing_ingest)
            template = REPO / "infra" / "template.yaml"
            env, tracing, memory = template_function(template, "AskFunction")
            env.update(services.ask_env())
            event = cold.EVENTS / "api-ask.json"
            contenders = {
                "ask": Function("ask", built["ask"], [built["layer"]], "app.handler", event, env),
                "hello-ours": Function(
                    "hello-ours", built["hello-task"], [built["hello-layer"]], "app.handler", event
                ),
            }
            sandbox.PYTHON = python  # run_cold_start starts this interpreter
            samples: dict[str, list[float]] = {label: [] for label in contenders}
            for function in contenders.values():  # warm-up, not measured
                sandbox.run_cold_start(
                    function, runtime, scratch, tracing=tracing, memory_mb=memory
                )
            for n in range(args.runs):
                order = list(contenders)[n % 2 :] + list(contenders)[: n % 2]
                for label in order:
                    result = sandbox.run_cold_start(
                        contenders[label], runtime, scratch, tracing=tracing, memory_mb=memory
                    )
                    if result["status"] != 200:
                        raise RuntimeError(f"{label}: {result['result']}")
                    samples[label].append(result["import_cpu"] + result["invoke_cpu"])
    finally:
        make_writable(work)
        shutil.rmtree(work, ignore_errors=True)

    hello = median(samples["hello-ours"])
    rows = [
        [f"{label} (Python {minor})", f"{median(v):.0f}", f"{median(v) / hello:.2f}x"]
        for label, v in samples.items()
    ]
    print_table(
        f"Import + first invocation, median CPU ms of {args.runs} interleaved cold starts",
        ["function", "total CPU", "vs hello ours"],
        rows,
    )


if __name__ == "__main__":
    main()
