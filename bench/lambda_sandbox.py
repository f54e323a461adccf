"""Run Lambda build artifacts the way the python3.11 runtime runs them, on this machine.

What Lambda does, and what this module reproduces:
- the function folder is /var/task and each layer is unpacked into /opt (its python/ folder and
  python/lib/python3.11/site-packages go on sys.path), both READ-ONLY: nothing compiled at start is
  ever cached, so every cold start pays for every module that ships without bytecode;
- sys.path = [/var/task, /opt/python/lib/python3.11/site-packages, /opt/python, /var/runtime
  (boto3/botocore of the runtime), the standard library]; no user or venv site-packages;
- the runtime's variables (AWS_LAMBDA_FUNCTION_NAME, AWS_EXECUTION_ENV, LAMBDA_TASK_ROOT, the
  X-Ray ones when tracing is Active, credentials...) plus the function's own from the template;
- a fresh interpreter per cold start: import the handler module (INIT), then the first invocation.

The build targets arm64 and this machine is x86_64: packages with native code (pydantic-core) are
swapped for the SAME version's x86_64 wheel, given bytecode the same way the build gave it to the
rest; everything else is the build's own files. The runtime's boto3 is installed here once.
"""

from __future__ import annotations

import json
import os
import shutil
import stat
import subprocess
import sys
import tempfile
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

# The interpreter itself, not the venv's: no venv site-packages may leak into the sandbox.
PYTHON = getattr(sys, "_base_executable", sys.executable)
HOST_PLATFORM = "manylinux2014_x86_64"
PIP_FOR_RUNTIME = [
    "--quiet",
    "--disable-pip-version-check",
    "--no-warn-conflicts",
    "--no-compile",
    "--platform",
    HOST_PLATFORM,
    "--implementation",
    "cp",
    "--python-version",
    "3.11",
    "--only-binary=:all:",
]
RUNTIME_PROVIDED = ("boto3",)  # what /var/runtime holds for our purposes (with its dependencies)

BOOTSTRAP = r"""
import sys, time
# What the runtime's own bootstrap has imported before it loads the handler.
import json, logging, os, traceback, http.client, socket, decimal, uuid
spec = json.loads(sys.argv[1])
cpu0, wall0 = time.process_time(), time.perf_counter()
stdlib = [p for p in sys.path if p and not p.endswith("site-packages")]
sys.path[:] = spec["path"] + stdlib
module_name, _, function_name = spec["handler"].rpartition(".")
import importlib
module = importlib.import_module(module_name)
handler = getattr(module, function_name)
cpu1, wall1 = time.process_time(), time.perf_counter()

class Context:
    function_name = os.environ["AWS_LAMBDA_FUNCTION_NAME"]
    function_version = "$LATEST"
    memory_limit_in_mb = int(os.environ["AWS_LAMBDA_FUNCTION_MEMORY_SIZE"])
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:" + function_name
    aws_request_id = str(uuid.uuid4())
    log_group_name = os.environ["AWS_LAMBDA_LOG_GROUP_NAME"]
    log_stream_name = os.environ["AWS_LAMBDA_LOG_STREAM_NAME"]
    def get_remaining_time_in_millis(self):
        return 29000

event = json.load(open(spec["event"]))
result = handler(event, Context())
cpu2, wall2 = time.process_time(), time.perf_counter()
status = result.get("statusCode", 200) if isinstance(result, dict) else 200
with open(spec["out"], "w") as out:
    json.dump({
        "import_cpu": (cpu1 - cpu0) * 1000, "import_wall": (wall1 - wall0) * 1000,
        "invoke_cpu": (cpu2 - cpu1) * 1000, "invoke_wall": (wall2 - wall1) * 1000,
        "status": status, "result": json.dumps(result, default=str)[:300],
    }, out)
"""


@dataclass
class Function:
    """One deployable function: its /var/task folder, its layers' /opt folders, how it is run."""

    label: str
    task: Path
    layers: list[Path]
    handler: str
    event: Path
    env: dict[str, str] = field(default_factory=dict)


def _dist_files(site: Path, info: Path) -> list[Path]:
    record = info / "RECORD"
    files = [site / line.split(",")[0] for line in record.read_text().splitlines() if line]
    return [f for f in files if f.exists()]


def _is_pure(info: Path) -> bool:
    wheel = (info / "WHEEL").read_text()
    return "Root-Is-Purelib: true" in wheel


def _ships_bytecode(site: Path) -> bool:
    return any(site.rglob("__pycache__/*.cpython-311.pyc"))


def compile_unchecked(site: Path) -> None:
    subprocess.run(
        [
            PYTHON,
            "-m",
            "compileall",
            "-q",
            "-f",
            "-j",
            "0",
            "--invalidation-mode",
            "unchecked-hash",
            str(site),
        ],
        check=True,
        stdout=subprocess.DEVNULL,
    )


def localize_native(site: Path) -> list[str]:
    """Swap each package with native code for the same version's wheel for this machine."""
    swapped = []
    with_bytecode = _ships_bytecode(site)
    for info in sorted(site.glob("*.dist-info")):
        if _is_pure(info):
            continue
        name, _, version = info.name.removesuffix(".dist-info").rpartition("-")
        for path in _dist_files(site, info):
            path.unlink()
        shutil.rmtree(info, ignore_errors=True)
        with tempfile.TemporaryDirectory() as tmp:
            subprocess.run(
                [
                    PYTHON,
                    "-m",
                    "pip",
                    "install",
                    *PIP_FOR_RUNTIME,
                    "--no-deps",
                    "--target",
                    tmp,
                    f"{name}=={version}",
                ],
                check=True,
                capture_output=True,
            )
            if with_bytecode:
                compile_unchecked(Path(tmp))
            shutil.copytree(tmp, site, dirs_exist_ok=True)
        swapped.append(f"{name}=={version}")
    return swapped


def runtime_dir(cache: Path) -> Path:
    """/var/runtime's boto3 (same version as this venv's), with bytecode as the runtime has."""
    import boto3

    target = cache / f"runtime-boto3-{boto3.__version__}"
    if not (target / ".done").exists():
        shutil.rmtree(target, ignore_errors=True)
        subprocess.run(
            [
                PYTHON,
                "-m",
                "pip",
                "install",
                *PIP_FOR_RUNTIME,
                "--target",
                str(target),
                f"boto3=={boto3.__version__}",
            ],
            check=True,
            capture_output=True,
        )
        compile_unchecked(target)
        (target / ".done").touch()
    return target


def copy_read_only(source: Path, target: Path) -> Path:
    shutil.copytree(source, target, symlinks=True)
    return target


def make_read_only(root: Path) -> None:
    for path in [*root.rglob("*"), root]:
        if not path.is_symlink():
            mode = path.stat().st_mode
            path.chmod(mode & ~(stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH))


def make_writable(root: Path) -> None:
    if root.exists():
        subprocess.run(["chmod", "-R", "u+w", str(root)], check=True)


def layer_paths(layer: Path) -> list[str]:
    return [str(layer / "python" / "lib" / "python3.11" / "site-packages"), str(layer / "python")]


def lambda_env(
    function: Function, runtime: Path, home: Path, *, tracing: bool, memory_mb: int
) -> dict[str, str]:
    name = f"bench-{function.label}"
    env = {
        "PATH": "/usr/local/bin:/usr/bin:/bin",
        "LANG": "en_US.UTF-8",
        "TZ": ":UTC",
        "HOME": str(home),  # no ~/.aws of this machine
        "PYTHONDONTWRITEBYTECODE": "1",
        "AWS_LAMBDA_FUNCTION_NAME": name,
        "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(memory_mb),
        "AWS_LAMBDA_LOG_GROUP_NAME": f"/aws/lambda/{name}",
        "AWS_LAMBDA_LOG_STREAM_NAME": "2026/11/21/[$LATEST]0123456789abcdef",
        "AWS_LAMBDA_INITIALIZATION_TYPE": "on-demand",
        "AWS_EXECUTION_ENV": "AWS_Lambda_python3.11",
        "LAMBDA_TASK_ROOT": str(function.task),
        "LAMBDA_RUNTIME_DIR": str(runtime),
        "_HANDLER": function.handler,
        "AWS_REGION": "us-east-1",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_ACCESS_KEY_ID": "ASIABENCHEXAMPLE",
        "AWS_SECRET_ACCESS_KEY": "bench-secret-example",
        "AWS_SESSION_TOKEN": "bench-session-example",
    }
    if tracing:  # what the runtime sets for `Tracing: Active`
        env.update(
            AWS_XRAY_DAEMON_ADDRESS="127.0.0.1:2000",
            AWS_XRAY_CONTEXT_MISSING="LOG_ERROR",
            _AWS_XRAY_DAEMON_ADDRESS="127.0.0.1",
            _AWS_XRAY_DAEMON_PORT="2000",
            _X_AMZN_TRACE_ID="Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;"
            "Sampled=1",
        )
    env.update(function.env)
    return env


def run_cold_start(
    function: Function,
    runtime: Path,
    scratch: Path,
    *,
    tracing: bool,
    memory_mb: int = 512,
    verbose_imports: bool = False,
    bootstrap: str = BOOTSTRAP,
) -> dict[str, Any]:
    """One fresh interpreter: import the handler, invoke it once with the event (`bootstrap`:
    the runtime's stand-in; bench/cold_start_stages.py passes one that times each import)."""
    out = scratch / "result.json"
    spec = {
        "path": [
            str(function.task),
            *[p for lay in function.layers for p in layer_paths(lay)],
            str(runtime),
        ],
        "handler": function.handler,
        "event": str(function.event),
        "out": str(out),
    }
    flags = ["-B", "-S"] + (["-v"] if verbose_imports else [])
    proc = subprocess.run(
        [PYTHON, *flags, "-c", bootstrap, json.dumps(spec)],
        env=lambda_env(function, runtime, scratch, tracing=tracing, memory_mb=memory_mb),
        cwd=function.task,
        capture_output=True,
        text=True,
    )
    if proc.returncode != 0 or not out.exists():
        raise RuntimeError(f"{function.label} failed:\n{proc.stderr[-3000:]}")
    result = json.loads(out.read_text())
    out.unlink()
    if verbose_imports:
        result["stderr"] = proc.stderr
    return result


def compiled_at_start(stderr: str, roots: list[Path]) -> tuple[int, int]:
    """(modules loaded from shipped .pyc, modules compiled from source) under `roots`."""
    prefixes = tuple(str(r) for r in roots)
    from_pyc = from_source = 0
    for line in stderr.splitlines():
        if not line.startswith("# code object from "):
            continue
        path = line.removeprefix("# code object from ").strip("'")
        if not path.startswith(prefixes):
            continue
        if path.endswith(".pyc"):
            from_pyc += 1
        else:
            from_source += 1
    return from_pyc, from_source


# ------------------------------------------------------------------ the template's environment


class _CfnLoader(yaml.SafeLoader):
    pass


def _tag(loader: yaml.SafeLoader, suffix: str, node: yaml.Node) -> Any:
    if isinstance(node, yaml.ScalarNode):
        value: Any = loader.construct_scalar(node)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        value = loader.construct_mapping(node, deep=True)
    return {("Ref" if suffix == "Ref" else f"Fn::{suffix}"): value}


_CfnLoader.add_multi_constructor("!", _tag)


def template_function(template: Path, logical_id: str) -> tuple[dict[str, str], bool, int]:
    """(environment with parameter defaults resolved, tracing active?, memory MB)."""
    doc = yaml.load(template.read_text(), Loader=_CfnLoader)
    defaults = {k: str(v.get("Default", "")) for k, v in (doc.get("Parameters") or {}).items()}
    globals_fn = (doc.get("Globals") or {}).get("Function") or {}
    props = doc["Resources"][logical_id]["Properties"]
    variables = {
        **((globals_fn.get("Environment") or {}).get("Variables") or {}),
        **((props.get("Environment") or {}).get("Variables") or {}),
    }
    env = {}
    for key, value in variables.items():
        if isinstance(value, dict) and "Ref" in value:
            value = defaults.get(value["Ref"])
        if isinstance(value, str | int | float | bool):
            env[key] = str(value)
    tracing = (props.get("Tracing") or globals_fn.get("Tracing")) == "Active"
    memory = int(props.get("MemorySize") or globals_fn.get("MemorySize") or 128)
    return env, tracing, memory


def tree_size_mb(path: Path) -> float:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file()) / 1e6


def zipped_size_mb(path: Path) -> float:
    with tempfile.TemporaryFile() as handle:
        with zipfile.ZipFile(handle, "w", zipfile.ZIP_DEFLATED) as archive:
            for file in path.rglob("*"):
                if file.is_file():
                    archive.write(file, file.relative_to(path))
        return handle.tell() / 1e6


def distributions(site: Path) -> dict[str, str]:
    found = {}
    for info in site.glob("*.dist-info"):
        name, _, version = info.name.removesuffix(".dist-info").rpartition("-")
        found[name.lower().replace("-", "_")] = version
    return found


def clean_env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "VIRTUAL_ENV"))}
