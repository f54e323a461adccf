"""Cold start as Lambda runs it: import + first invocation, from `sam build`'s artifacts.

    make sam-build && .venv/bin/python bench/bench_cold_start.py [--runs 15]
    .venv/bin/python bench/bench_cold_start.py --build before=/tmp/b0 --build ours=.aws-sam/build

Each build (default: .aws-sam/build) is copied into a read-only sandbox laid out as Lambda lays it
out (bench/lambda_sandbox.py: /var/task, /opt, the runtime's boto3, sys.path in the runtime's
order, the runtime's and the template's variables, tracing as the template sets it, no bytecode
writes). The build targets arm64, this machine is x86_64: native packages are swapped for the same
version's x86_64 wheel, with bytecode if the build shipped bytecode.

Each cold start is a fresh interpreter that imports the handler and invokes it once: the ask
function with events/api-ask.json against the local vector service (hash embedder, data/foods.json
ingested) and the generator stub; the ingest function with events/s3-put-foods.json, its S3 being
moto's server (the index already holds the file: an unchanged re-ingest). Next to them, a
hello-world FastAPI + Mangum function (one pydantic POST route, Powertools Logger) built (a) the
default way (plain pip install, no bytecode: what SAM's python builder ships) and (b) the way ours
is built (infra/lambda-build.mk: layer + --no-deps function, unchecked-hash bytecode); and the
floor, that hello-world built our way whose route queries the index through the upstash-vector SDK
(the libraries this product must use), with and without our start-up treatment.

Figures: median of --runs cold starts per function, interleaved (one of each, again and again) so
that load from other work on the machine hits all alike; CPU time of the function's process
(imports are CPU-bound; wall time on a shared 2-core VM swings by tens of ms), wall time beside it.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _common import REPO, median, print_table
from lambda_sandbox import (
    PYTHON,
    Function,
    compiled_at_start,
    distributions,
    localize_native,
    make_read_only,
    make_writable,
    run_cold_start,
    runtime_dir,
    template_function,
    tree_size_mb,
    zipped_size_mb,
)

CACHE = Path(tempfile.gettempdir()) / "ragfood-bench-cache"
EVENTS = REPO / "events"
HELLO_APP = """\
from aws_lambda_powertools import Logger
from fastapi import FastAPI
from mangum import Mangum
from pydantic import BaseModel

logger = Logger()
app = FastAPI()


class Question(BaseModel):
    question: str


@app.post("/ask")
def ask(question: Question) -> dict:
    return {"answer": question.question}


asgi = Mangum(app, lifespan="off")


@logger.inject_lambda_context
def handler(event, context):
    return asgi(event, context)
"""
# The same hello-world with our functions' start-up treatment, so the floor gets it too: the
# handler module initializes without cyclic garbage collection (ragfood.startup, inlined: the
# hello-world's layer has no ragfood), then gc.freeze + resume; and the template's
# PYDANTIC_DISABLE_PLUGINS (HELLO_STARTUP_ENV).
HELLO_STARTUP_ENV = {"PYDANTIC_DISABLE_PLUGINS": "__all__"}


def with_startup(app: str) -> str:
    return "import gc\n\ngc.disable()\n" + app + "\n\ngc.freeze()\ngc.enable()\n"


HELLO_APP_GC = with_startup(HELLO_APP)
HELLO_REQUIREMENTS = "fastapi\nmangum\naws-lambda-powertools\npydantic\n"
# Its layer built our way. anyio: FastAPI's dependency that our layer has through httpx.
HELLO_LAYER_REQUIREMENTS = "pydantic\naws-lambda-powertools\nanyio\n"
# The least this product can do with the libraries it must use: the hello-world whose route asks
# the index for the question's best 3 items through the upstash-vector SDK (httpx, httpcore, h11).
# Given the same advantage as ours (no TLS context for a plain-http index), so it is a floor.
HELLO_VECTOR_ENV = ("UPSTASH_VECTOR_REST_URL", "UPSTASH_VECTOR_REST_READONLY_TOKEN")
HELLO_VECTOR_APP = """\
import os

import httpx
from aws_lambda_powertools import Logger
from fastapi import FastAPI
from mangum import Mangum
from pydantic import BaseModel
from upstash_vector import Index
from upstash_vector.http import generate_headers


class PlainIndex(Index):
    def __init__(self, url: str, token: str) -> None:
        self._url, self._client = url, httpx.Client(verify=False)
        self._retries, self._retry_interval = 0, 0.0
        self._headers = generate_headers(token, False)


logger = Logger()
index = PlainIndex(
    os.environ["UPSTASH_VECTOR_REST_URL"], os.environ["UPSTASH_VECTOR_REST_READONLY_TOKEN"]
)
app = FastAPI()


class Question(BaseModel):
    question: str


@app.post("/ask")
def ask(question: Question) -> dict:
    found = index.query(data=question.question, top_k=3, include_data=True)
    return {"answer": question.question, "sources": [f.id for f in found]}


asgi = Mangum(app, lifespan="off")


@logger.inject_lambda_context
def handler(event, context):
    return asgi(event, context)
"""


# ------------------------------------------------------------------ preparing the sandboxes


def _build_layout(build: Path) -> dict[str, Path]:
    """Logical id -> artifact folder, for the functions and layers of a `sam build` output."""
    return {p.name: p for p in build.iterdir() if p.is_dir()}


def prepare_build(label: str, build: Path, work: Path) -> dict[str, Path]:
    target = work / label
    shutil.copytree(build, target, symlinks=True)
    for artifact in _build_layout(target).values():
        site = artifact / "python" if (artifact / "python").is_dir() else artifact
        swapped = localize_native(site)
        if swapped:
            print(f"  {label}/{artifact.name}: x86_64 wheels for {', '.join(swapped)}", flush=True)
    return _build_layout(target)


def sam_builds(specs: list[str]) -> dict[str, Path]:
    """`--build LABEL=DIR` options as {label: directory}; exits when one holds no `sam build`."""
    builds = {}
    for spec in specs:
        label, _, directory = spec.partition("=")
        builds[label] = Path(directory).resolve()
        if not (builds[label] / "template.yaml").is_file():
            sys.exit(f"no sam build in {directory}: run `make sam-build` first")
    return builds


def build_with_recipe(
    source: Path, makefile: Path, artifacts: Path, python: str = PYTHON, minor: str | None = None
) -> None:
    """Build `source` into `artifacts` with one of our SAM makefile recipes (infra/lambda-build.mk),
    bytecode by `python`, for this machine's platform."""
    artifacts.mkdir(parents=True)
    versions = [f"LAMBDA_PYTHON={python}"] + ([f"LAMBDA_PY_MINOR={minor}"] if minor else [])
    subprocess.run(
        ["make", "--no-print-directory", "--makefile", str(makefile), "build-Bench",
         f"ARTIFACTS_DIR={artifacts}", "LAMBDA_PLATFORM=manylinux2014_x86_64", *versions],
        cwd=source,
        check=True,
        capture_output=True,
    )  # fmt: skip


def build_hello_ours(
    work: Path,
    name: str,
    layer_requirements: str,
    apps: dict[str, str],
    python: str = PYTHON,
    minor: str | None = None,
) -> tuple[Path, Path]:
    """A hello-world built our way, with the same recipes as the CoreLayer and the ask function
    (pydantic + Powertools in a layer; FastAPI, Starlette, Mangum in the function), for this
    machine's platform: (its layer, its function folder). `apps`: file name -> module source."""
    source = work / f"{name}-src"
    (source / "layer").mkdir(parents=True)
    (source / "layer" / "requirements.txt").write_text(layer_requirements)
    (source / "function").mkdir()
    for file, app in apps.items():
        (source / "function" / file).write_text(app)
    shutil.copy(REPO / "functions" / "ask" / "requirements.txt", source / "function")
    layer, task = work / name / "layer", work / name / "task"
    build_with_recipe(source / "layer", REPO / "shared" / "Makefile", layer, python, minor)
    recipe = REPO / "functions" / "ask" / "Makefile"
    build_with_recipe(source / "function", recipe, task, python, minor)
    return layer, task


def build_hello(work: Path) -> dict[str, Function]:
    """The hello-world, built the default way and our way."""
    event = EVENTS / "api-ask.json"
    default_task = work / "hello-default" / "task"
    default_task.mkdir(parents=True)
    (default_task / "app.py").write_text(HELLO_APP)
    subprocess.run(
        [
            PYTHON,
            "-m",
            "pip",
            "install",
            "--quiet",
            "--disable-pip-version-check",
            "--no-warn-conflicts",
            "--no-compile",
            "--only-binary=:all:",
            "--target",
            str(default_task),
            *HELLO_REQUIREMENTS.split(),
        ],
        check=True,
        capture_output=True,
    )
    hello = {"hello-default": Function("hello-default", default_task, [], "app.handler", event)}

    layer, task = build_hello_ours(
        work,
        "hello-ours",
        HELLO_LAYER_REQUIREMENTS,
        {"app.py": HELLO_APP, "app_gc.py": HELLO_APP_GC},
    )
    hello["hello-ours"] = Function("hello-ours", task, [layer], "app.handler", event)
    hello["hello-ours+startup"] = Function(
        "hello-ours+startup", task, [layer], "app_gc.handler", event, dict(HELLO_STARTUP_ENV)
    )
    layer, task = build_hello_ours(
        work,
        "hello-vector",
        HELLO_LAYER_REQUIREMENTS + "upstash-vector\n",
        {"app_vector.py": HELLO_VECTOR_APP, "app_vector_gc.py": with_startup(HELLO_VECTOR_APP)},
    )
    # Its index address is filled in once the local index runs (main()).
    hello["hello-ours+vector"] = Function(
        "hello-ours+vector", task, [layer], "app_vector.handler", event
    )
    hello["hello-ours+vector+startup"] = Function(
        "hello-ours+vector+startup",
        task,
        [layer],
        "app_vector_gc.handler",
        event,
        dict(HELLO_STARTUP_ENV),
    )
    return hello


# ------------------------------------------------------------------ the services


class Services:
    """The local index (with data/foods.json), the generator stub, moto's S3 with the upload."""

    def __enter__(self) -> Services:
        import logging

        from moto.server import ThreadedMotoServer

        logging.getLogger("werkzeug").setLevel(logging.ERROR)

        from ragfood_vector.launcher import VectorServer
        from tests.support.generator_stub import GeneratorStub

        self.vector = VectorServer(embedder="hash").__enter__()
        self.stub = GeneratorStub().__enter__()
        self.moto = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
        self.moto.start()
        host, port = self.moto.get_host_and_port()
        self.s3_url = f"http://{host}:{port}"
        import boto3

        s3 = boto3.client(
            "s3",
            endpoint_url=self.s3_url,
            region_name="us-east-1",
            aws_access_key_id="bench",
            aws_secret_access_key="bench",
        )
        self.ssm = boto3.client(
            "ssm",
            endpoint_url=self.s3_url,
            region_name="us-east-1",
            aws_access_key_id="bench",
            aws_secret_access_key="bench",
        )
        event = json.loads((EVENTS / "s3-put-foods.json").read_text())
        record = event["Records"][0]["s3"]
        s3.create_bucket(Bucket=record["bucket"]["name"])
        s3.put_object(
            Bucket=record["bucket"]["name"],
            Key=record["object"]["key"],
            Body=(REPO / "data" / "foods.json").read_bytes(),
        )
        return self

    def __exit__(self, *exc: object) -> None:
        self.moto.stop()
        self.stub.__exit__(None, None, None)
        self.vector.__exit__(None, None, None)

    def ask_env(self) -> dict[str, str]:
        return {
            "UPSTASH_VECTOR_REST_URL": self.vector.url,
            "UPSTASH_VECTOR_REST_READONLY_TOKEN": self.vector.readonly_token,
            "UPSTASH_VECTOR_REST_READONLY_TOKEN_PARAM": "",
            "GENERATOR_URL": self.stub.url,
            "GENERATOR_API_KEY_PARAM": "",
            # Scores of the stand-in (hash embedder, hybrid fusion) are not a real model's: let
            # the question always find its sources, so that every first invocation generates.
            "RAGFOOD_MIN_SCORE": "0",
        }

    def ask_env_deployed(self, parameter: str) -> dict[str, str]:
        """As deployed: the read-only token read from SSM and the conversation saved in DynamoDB
        (both moto) by the first invocation."""
        self.ssm.put_parameter(
            Name=parameter, Value=self.vector.readonly_token, Type="SecureString", Overwrite=True
        )
        import boto3

        dynamodb = boto3.client(
            "dynamodb",
            endpoint_url=self.s3_url,
            region_name="us-east-1",
            aws_access_key_id="bench",
            aws_secret_access_key="bench",
        )
        table = "ragfood-bench-sessions"
        if table not in dynamodb.list_tables()["TableNames"]:
            dynamodb.create_table(
                TableName=table,
                AttributeDefinitions=[{"AttributeName": "session_id", "AttributeType": "S"}],
                KeySchema=[{"AttributeName": "session_id", "KeyType": "HASH"}],
                BillingMode="PAY_PER_REQUEST",
            )
        return {
            **self.ask_env(),
            "UPSTASH_VECTOR_REST_READONLY_TOKEN": "",
            "UPSTASH_VECTOR_REST_READONLY_TOKEN_PARAM": parameter,
            "AWS_ENDPOINT_URL_SSM": self.s3_url,
            "RAGFOOD_SESSIONS_TABLE": table,
            "AWS_ENDPOINT_URL_DYNAMODB": self.s3_url,
        }

    def ingest_env(self) -> dict[str, str]:
        return {
            "UPSTASH_VECTOR_REST_URL": self.vector.url,
            "UPSTASH_VECTOR_REST_TOKEN": self.vector.token,
            "UPSTASH_VECTOR_REST_TOKEN_PARAM": "",
            "AWS_ENDPOINT_URL_S3": self.s3_url,
        }


def our_functions(
    label: str, layout: dict[str, Path], template: Path, services: Services, *, ssm: bool = False
):
    layers = [p for p in layout.values() if (p / "python").is_dir()]
    found = {}
    variants = [
        ("AskFunction", "ask", "api-ask.json", services.ask_env()),
        ("IngestFunction", "ingest", "s3-put-foods.json", services.ingest_env()),
    ]
    if ssm:
        parameter, _, _ = template_function(template, "AskFunction")
        name = parameter.get("UPSTASH_VECTOR_REST_READONLY_TOKEN_PARAM") or "/ragfood/readonly"
        deployed = services.ask_env_deployed(name)
        variants.append(("AskFunction", "ask deployed", "api-ask.json", deployed))
    for name, short, event, extra in variants:
        if name not in layout:
            continue
        env, tracing, memory = template_function(template, name)
        env.update(extra)
        function = Function(
            f"{short} ({label})", layout[name], layers, "app.handler", EVENTS / event, env
        )
        found[function.label] = (function, tracing, memory)
    return found


# ------------------------------------------------------------------ measuring


def measure(contenders, runtime: Path, scratch: Path, runs: int) -> dict[str, list[dict]]:
    samples: dict[str, list[dict]] = {label: [] for label in contenders}
    labels = list(contenders)
    for run in range(runs):
        # Rotate the order too, so that no contender always runs right after a given other.
        for label in labels[run % len(labels) :] + labels[: run % len(labels)]:
            function, tracing, memory = contenders[label]
            result = run_cold_start(function, runtime, scratch, tracing=tracing, memory_mb=memory)
            if result["status"] != 200:
                raise RuntimeError(f"{label}: status {result['status']}: {result['result']}")
            if label.startswith("ask") and '\\"sources\\":[]' in result["result"]:
                raise RuntimeError(f"{label}: answered without sources: {result['result']}")
            samples[label].append(result)
        print(f"  run {run + 1}/{runs} done", file=sys.stderr, flush=True)
    return samples


def bytecode_use(contenders, runtime: Path, scratch: Path) -> dict[str, tuple[int, int]]:
    """Per contender: modules its cold start loaded from shipped .pyc / compiled from source."""
    found = {}
    for label, (function, tracing, memory) in contenders.items():
        result = run_cold_start(
            function, runtime, scratch, tracing=tracing, memory_mb=memory, verbose_imports=True
        )
        found[label] = compiled_at_start(result["stderr"], [function.task, *function.layers])
    return found


def report(samples, bytecode) -> None:
    stats = {}
    for label, values in samples.items():
        stats[label] = {
            key: median([v[key] for v in values])
            for key in ("import_cpu", "invoke_cpu", "import_wall", "invoke_wall")
        }
        stats[label]["total_cpu"] = median([v["import_cpu"] + v["invoke_cpu"] for v in values])
        stats[label]["total_wall"] = median([v["import_wall"] + v["invoke_wall"] for v in values])
    default = stats.get("hello-default", {}).get("total_cpu")
    ours = stats.get("hello-ours", {}).get("total_cpu")
    ours_startup = stats.get("hello-ours+startup", {}).get("total_cpu")
    rows = []
    for label, s in stats.items():
        pyc, source = bytecode.get(label, (0, 0))
        rows.append(
            [
                label,
                f"{s['import_cpu']:.0f}",
                f"{s['invoke_cpu']:.0f}",
                f"{s['total_cpu']:.0f}",
                f"{s['total_wall']:.0f}",
                f"{s['total_cpu'] / default:.2f}x" if default else "-",
                f"{s['total_cpu'] / ours:.2f}x" if ours else "-",
                f"{s['total_cpu'] / ours_startup:.2f}x" if ours_startup else "-",
                f"{pyc} / {source}",
            ]
        )
    runs = len(next(iter(samples.values())))
    print_table(
        f"Cold start as Lambda runs it: median of {runs} interleaved fresh processes (ms)",
        [
            "function (build)",
            "import CPU",
            "1st invoke CPU",
            "total CPU",
            "total wall",
            "vs hello default",
            "vs hello ours",
            "vs hello ours+startup",
            "modules .pyc / compiled",
        ],
        rows,
    )


def artifact_report(builds: dict[str, Path]) -> None:
    rows = []
    for label, build in builds.items():
        layout = _build_layout(build)
        layers = {n: p for n, p in layout.items() if (p / "python").is_dir()}
        layer_dists: dict[str, str] = {}
        for path in layers.values():
            layer_dists.update(distributions(path / "python"))
        for name, path in layout.items():
            if name in layers:
                both = "-"
            else:
                both = ", ".join(sorted(distributions(path).keys() & layer_dists.keys())) or "none"
            rows.append(
                [label, name, f"{tree_size_mb(path):.1f}", f"{zipped_size_mb(path):.1f}", both]
            )
    print_table(
        "Artifacts (as built for arm64)",
        ["build", "artifact", "unzipped MB", "zipped MB", "packages also in the layer"],
        rows,
    )


# ------------------------------------------------------------------ the CLI's start


CLI_COMMANDS = {
    'python -c "import httpx, upstash_vector"': ["-c", "import httpx, upstash_vector"],
    "ragfood --help": ["-m", "ragfood_cli.main", "--help"],
    "ragfood ask --help": ["-m", "ragfood_cli.main", "ask", "--help"],
    "ragfood ingest --help": ["-m", "ragfood_cli.main", "ingest", "--help"],
}


def cli_start(runs: int) -> None:
    """CPU of the whole process (interpreter start included), in the dev venv as users run it."""
    import resource

    venv_python = REPO / ".venv" / "bin" / "python"
    samples: dict[str, list[float]] = {name: [] for name in CLI_COMMANDS}
    walls: dict[str, list[float]] = {name: [] for name in CLI_COMMANDS}
    for _ in range(runs):
        for name, argv in CLI_COMMANDS.items():
            before = resource.getrusage(resource.RUSAGE_CHILDREN)
            started = time.perf_counter()
            subprocess.run([str(venv_python), *argv], check=True, capture_output=True)
            walls[name].append((time.perf_counter() - started) * 1000)
            after = resource.getrusage(resource.RUSAGE_CHILDREN)
            cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
            samples[name].append(cpu * 1000)
    base = median(samples[next(iter(CLI_COMMANDS))])
    print_table(
        f"CLI start, whole process, median of {runs} interleaved runs (ms)",
        ["command", "CPU", "wall", "vs bare import"],
        [
            [
                name,
                f"{median(samples[name]):.0f}",
                f"{median(walls[name]):.0f}",
                f"{median(samples[name]) / base:.2f}x",
            ]
            for name in CLI_COMMANDS
        ],
    )


# ------------------------------------------------------------------ main


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=15)
    parser.add_argument(
        "--build",
        action="append",
        default=[],
        metavar="LABEL=DIR",
        help="a `sam build` output to measure (repeatable; default ours=.aws-sam/build); "
        "its template.yaml gives each function's environment",
    )
    parser.add_argument(
        "--rebuild", action="store_true", help="run `make sam-build` first (default build only)"
    )
    parser.add_argument("--no-hello", action="store_true", help="skip the hello-world floors")
    parser.add_argument(
        "--only", default="", help="comma-separated label prefixes to measure (e.g. ask,hello)"
    )
    parser.add_argument("--no-cli", action="store_true", help="skip the CLI start figures")
    parser.add_argument(
        "--ssm",
        action="store_true",
        help="also run the last build's ask function as deployed: token from SSM, conversation "
        "saved in DynamoDB (both moto)",
    )
    args = parser.parse_args()

    default_build = REPO / ".aws-sam" / "build"
    if not args.build and (args.rebuild or not (default_build / "template.yaml").is_file()):
        print("running `make sam-build`", file=sys.stderr, flush=True)
        subprocess.run(["make", "-C", str(REPO), "sam-build"], check=True)
    builds = sam_builds(args.build or [f"ours={default_build}"])

    CACHE.mkdir(exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="ragfood-coldstart-"))
    scratch = work / "scratch"
    scratch.mkdir()
    try:
        print("preparing read-only sandboxes ...", file=sys.stderr, flush=True)
        runtime = runtime_dir(CACHE)
        layouts = {label: prepare_build(label, build, work) for label, build in builds.items()}
        hello = {} if args.no_hello else build_hello(work)
        for path in work.iterdir():
            if path != scratch:
                make_read_only(path)
        with Services() as services:
            contenders = {}
            last = list(layouts)[-1]
            for label, layout in layouts.items():
                for name, entry in our_functions(
                    label,
                    layout,
                    builds[label] / "template.yaml",
                    services,
                    ssm=args.ssm and label == last,
                ).items():
                    contenders[name] = entry
            # The hello-world gets the ask function's memory and tracing, as deployed.
            ask_like = next(
                (v for k, v in contenders.items() if k.startswith("ask")), (None, True, 512)
            )
            for label, function in hello.items():
                if label.startswith("hello-ours+vector"):
                    env = services.ask_env()
                    function.env.update({k: env[k] for k in HELLO_VECTOR_ENV})
                contenders[label] = (function, ask_like[1], ask_like[2])
            if args.only:
                prefixes = tuple(p.strip() for p in args.only.split(","))
                warm = {k: v for k, v in contenders.items() if k.startswith("ingest")}
                contenders = {k: v for k, v in contenders.items() if k.startswith(prefixes)}
                for function, tracing, memory in list(warm.values())[:1]:  # fills the index
                    run_cold_start(function, runtime, scratch, tracing=tracing, memory_mb=memory)
            # Warm-up (not measured): the first ingest writes data/foods.json into the index;
            # every measured ingest is then an unchanged re-ingest, every ask finds sources.
            for function, tracing, memory in contenders.values():
                run_cold_start(function, runtime, scratch, tracing=tracing, memory_mb=memory)
            bytecode = bytecode_use(contenders, runtime, scratch)
            samples = measure(contenders, runtime, scratch, args.runs)
        print(
            "\nThe build targets arm64; here (x86_64) native packages run as the same version's "
            "x86_64 wheel.\nOther work may have been running on this 2-core machine: compare "
            "rows of one run, not runs."
        )
        report(samples, bytecode)
        artifact_report(builds)
        if not args.no_cli:
            cli_start(args.runs)
    finally:
        make_writable(work)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
