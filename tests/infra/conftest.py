"""The SAM CLI and ONE `sam build` per test session, shared by test_template.py (the template's
promises) and test_artifacts.py (what the build ships: bytecode, size, no duplicate packages)."""

from __future__ import annotations

import os
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
TEMPLATE = REPO / "infra" / "template.yaml"
SAM = REPO / ".venv-sam" / "bin" / "sam"
BUILD_TIMEOUT_S = 900


@pytest.fixture(scope="session")
def sam_cli() -> Path:
    if not os.access(SAM, os.X_OK):
        pytest.fail(
            f"SAM CLI not found at {SAM.relative_to(REPO)}: run `make sam-setup` "
            "(it installs aws-sam-cli into its own venv, .venv-sam)",
            pytrace=False,
        )
    return SAM


@pytest.fixture(scope="session")
def sam_env() -> dict[str, str]:
    env = dict(os.environ)
    env.update(SAM_CLI_TELEMETRY="0", AWS_DEFAULT_REGION="us-east-1")
    return env


@dataclass
class Build:
    returncode: int
    output: str
    directory: Path
    seconds: float

    def artefact(self, name: str) -> Path:
        if self.returncode != 0:
            pytest.fail(f"sam build failed (see test_sam_build_succeeds):\n{self.output[-3000:]}")
        return self.directory / name


@pytest.fixture(scope="session")
def sam_build(sam_cli, sam_env, tmp_path_factory) -> Build:
    """One `sam build` (no container) into a temporary directory, for every test needing it."""
    root = tmp_path_factory.mktemp("sam")
    build_dir = root / "build"
    started = time.monotonic()
    result = subprocess.run(
        [
            str(sam_cli),
            "build",
            "--template-file",
            str(TEMPLATE.relative_to(REPO)),
            "--build-dir",
            str(build_dir),
            "--cache-dir",
            str(root / "cache"),
        ],
        cwd=REPO,  # as a user runs it, with samconfig.toml's build settings
        env=sam_env,
        capture_output=True,
        text=True,
        timeout=BUILD_TIMEOUT_S,
    )
    return Build(
        result.returncode, result.stdout + result.stderr, build_dir, time.monotonic() - started
    )
