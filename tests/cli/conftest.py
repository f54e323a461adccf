"""Fixtures for the CLI: run `ragfood` in-process (CliRunner) or as a real process."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from typer.testing import CliRunner, Result

from ragfood_cli.main import app
from ragfood_vector.launcher import VectorServer
from tests.support.env import ragfood_env
from tests.support.serve import RAGFOOD, REPO  # noqa: F401 (the CLI tests import them from here)


@pytest.fixture
def cli_env(vector_server: VectorServer, fresh_namespace: str) -> dict[str, str]:
    return ragfood_env(
        vector_server, fresh_namespace, RAGFOOD_MAX_ATTEMPTS="2", RAGFOOD_RETRY_INITIAL_S="0.01"
    )


@pytest.fixture
def ragfood(cli_env: dict[str, str]) -> Callable[..., Result]:
    """ragfood("ask", "...", env={...}) -> the finished command's Result."""
    runner = CliRunner()

    def run(*args: str, env: dict[str, str] | None = None) -> Result:
        return runner.invoke(app, list(args), env={**cli_env, **(env or {})})

    return run
