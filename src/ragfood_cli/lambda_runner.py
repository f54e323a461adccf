"""Run a Lambda handler the way `sam local invoke` would, without Docker.

The function's environment comes from infra/template.yaml (literal values and parameter defaults),
overridden by the same variables when set in this process's environment, then by an optional
env-vars file in SAM's format ({"IngestFunction": {...}}), then by explicit overrides.
`host.docker.internal` in those values means "this machine" inside SAM's container, so it is
rewritten to 127.0.0.1 here. Loading a function is a cold start; invoking it again is warm.
"""

from __future__ import annotations

import importlib.util
import os
import sys
import time
import uuid
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from types import ModuleType
from typing import Any

import yaml

from ragfood_cli.json_file import load_json_object

REPO_ROOT = Path(__file__).resolve().parents[2]
TEMPLATE = REPO_ROOT / "infra" / "template.yaml"
FUNCTIONS = {"ingest": "IngestFunction", "ask": "AskFunction"}


def resolve_function(name: str) -> tuple[str, str]:
    """'ingest' or 'IngestFunction' -> ('ingest', 'IngestFunction')."""
    for short, logical in FUNCTIONS.items():
        if name.lower() in (short, logical.lower()):
            return short, logical
    raise ValueError(f"unknown function {name!r}; choose one of: {', '.join(FUNCTIONS)}")


class _CfnLoader(yaml.SafeLoader):
    """Reads CloudFormation YAML, keeping intrinsic functions (!Ref, !Sub...) as tagged dicts."""


def _intrinsic(loader: yaml.SafeLoader, suffix: str, node: yaml.Node) -> dict[str, Any]:
    tag = "!" + suffix  # add_multi_constructor passes what follows the "!" prefix
    if isinstance(node, yaml.ScalarNode):
        value: Any = loader.construct_scalar(node)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        value = loader.construct_mapping(node, deep=True)
    return {tag: value}


_CfnLoader.add_multi_constructor("!", _intrinsic)


def load_template(path: Path = TEMPLATE) -> dict[str, Any]:
    """The parsed template; parsed once per version of the file (every function load reads it)."""
    return _parse_template(path, path.stat().st_mtime_ns)


@lru_cache(maxsize=4)
def _parse_template(path: Path, _mtime_ns: int) -> dict[str, Any]:
    return yaml.load(path.read_text(), Loader=_CfnLoader)


def template_environment(
    logical_id: str, template: Mapping[str, Any] | None = None
) -> dict[str, str]:
    """Environment variables the template gives the function, where they resolve to literals."""
    template = template if template is not None else load_template()
    defaults = {
        name: str(spec.get("Default", ""))
        for name, spec in (template.get("Parameters") or {}).items()
    }
    globals_env = (
        ((template.get("Globals") or {}).get("Function") or {}).get("Environment") or {}
    ).get("Variables") or {}
    props = ((template.get("Resources") or {}).get(logical_id) or {}).get("Properties") or {}
    function_env = (props.get("Environment") or {}).get("Variables") or {}
    env: dict[str, str] = {}
    for name, value in {**globals_env, **function_env}.items():
        literal = _literal(value, defaults)
        if literal is not None:
            env[name] = literal
    return env


def _literal(value: Any, defaults: Mapping[str, str]) -> str | None:
    if isinstance(value, str | int | float | bool):
        return str(value)
    if isinstance(value, dict) and "!Ref" in value and value["!Ref"] in defaults:
        return defaults[value["!Ref"]]
    return None  # !If, !Sub, !GetAtt...: only meaningful in a deployed stack


def read_env_file(path: Path, logical_id: str) -> dict[str, str]:
    data = load_json_object(path, "SAM's env-vars: function names to variables")
    values: dict[str, Any] = {}
    for section in ("Parameters", logical_id):
        part = data.get(section, {})
        if not isinstance(part, dict):
            raise ValueError(f"{path}: {section!r} must be an object of variable names to values")
        values.update(part)
    return {key: str(value) for key, value in values.items()}


def load_function_module(short_name: str) -> ModuleType:
    """Import functions/<name>/app.py afresh under a unique name (both files are called app.py)."""
    path = REPO_ROOT / "functions" / short_name / "app.py"
    module_name = f"ragfood_function_{short_name}"
    # Lambda puts the function's folder on sys.path (its app.py imports its own package, e.g.
    # askapi); a cold load re-imports that package too, as a new container would.
    folder = str(path.parent)
    if folder not in sys.path:
        sys.path.insert(0, folder)
    for name, loaded in list(sys.modules.items()):
        if (getattr(loaded, "__file__", None) or "").startswith(folder + os.sep):
            del sys.modules[name]
    spec = importlib.util.spec_from_file_location(module_name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module
    spec.loader.exec_module(module)
    return module


def local_address(value: str) -> str:
    return value.replace("host.docker.internal", "127.0.0.1")


@dataclass
class LambdaContext:
    """The attributes of the Lambda context object that handlers and Powertools read."""

    function_name: str
    memory_limit_in_mb: int = 512
    timeout_s: float = 30.0
    aws_request_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    function_version: str = "$LATEST"
    log_group_name: str = "/aws/lambda/local"
    log_stream_name: str = "local"
    _started: float = field(default_factory=time.monotonic)

    @property
    def invoked_function_arn(self) -> str:
        return f"arn:aws:lambda:us-east-1:123456789012:function:{self.function_name}"

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self.timeout_s - (time.monotonic() - self._started)) * 1000))


_current: LocalFunction | None = None


class LocalFunction:
    """One function 'container': loaded (cold) on first invoke, reused (warm) afterwards."""

    def __init__(
        self,
        name: str,
        *,
        env_file: Path | None = None,
        env: Mapping[str, str] | None = None,
        timeout_s: float = 30.0,
    ) -> None:
        self.short_name, self.logical_id = resolve_function(name)
        self.timeout_s = timeout_s  # the function's Timeout: what the context reports as left
        merged = template_environment(self.logical_id) if TEMPLATE.exists() else {}
        # Like exporting a variable before `sam local invoke --env-vars`: a value set in this
        # process's environment beats the template's placeholder (e.g. an empty token slot).
        merged.update({key: os.environ[key] for key in merged if os.environ.get(key)})
        merged.setdefault("AWS_DEFAULT_REGION", "us-east-1")
        if env_file is not None:
            merged.update(read_env_file(env_file, self.logical_id))
        merged.update(env or {})
        self.env = {key: local_address(value) for key, value in merged.items()}
        self.module: ModuleType | None = None
        self.init_ms: float | None = None

    def invoke(self, event: Mapping[str, Any]) -> Any:
        global _current
        with self._environment():
            if self.module is None:
                self.module = self._load()
            elif _current is not self:
                # Both "containers" share this process and the core's singletons: rebuild them
                # from this function's environment, as its own container would have them.
                from ragfood import services

                services.reset()
            _current = self
            context = LambdaContext(
                function_name=f"ragfood-{self.short_name}", timeout_s=self.timeout_s
            )
            return self.module.handler(dict(event), context)

    def _load(self) -> ModuleType:
        from ragfood import services

        services.reset()  # a new container builds its own clients from its own environment
        started = time.perf_counter()
        module = load_function_module(self.short_name)
        self.init_ms = (time.perf_counter() - started) * 1000
        return module

    @contextmanager
    def _environment(self) -> Iterator[None]:
        saved = {key: os.environ.get(key) for key in self.env}
        os.environ.update(self.env)
        try:
            yield
        finally:
            for key, value in saved.items():
                if value is None:
                    os.environ.pop(key, None)
                else:
                    os.environ[key] = value


def invoke(
    name: str,
    event: Mapping[str, Any],
    *,
    env_file: Path | None = None,
    env: Mapping[str, str] | None = None,
) -> Any:
    """Cold-start the function and invoke it once with `event`."""
    return LocalFunction(name, env_file=env_file, env=env).invoke(event)
