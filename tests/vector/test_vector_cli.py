"""``ragfood vector serve`` options, their environment variables, and configuration checks."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from ragfood_vector import server
from ragfood_vector.cli import app
from ragfood_vector.config import ConfigError, ServiceConfig


@pytest.fixture
def captured(monkeypatch: pytest.MonkeyPatch) -> list[ServiceConfig]:
    configs: list[ServiceConfig] = []
    monkeypatch.setattr(server, "serve", configs.append)
    return configs


def test_serve_defaults(captured: list[ServiceConfig]) -> None:
    result = CliRunner().invoke(app, ["serve"], env={})

    assert result.exit_code == 0, result.output
    assert captured == [ServiceConfig()]
    assert (captured[0].url, captured[0].embedder, captured[0].data_dir) == (
        "http://127.0.0.1:8787",
        "minilm",
        Path(".ragfood/vector"),
    )
    assert captured[0].sparse == "bm25" and captured[0].hybrid  # a hybrid index by default


def test_every_option_can_come_from_the_environment(
    captured: list[ServiceConfig], tmp_path: Path
) -> None:
    env = {
        "RAGFOOD_VECTOR_HOST": "0.0.0.0",
        "RAGFOOD_VECTOR_PORT": "9999",
        "RAGFOOD_VECTOR_DATA_DIR": str(tmp_path),
        "RAGFOOD_VECTOR_EMBEDDER": "hash",
        "RAGFOOD_VECTOR_DIMENSION": "64",
        "RAGFOOD_VECTOR_SPARSE": "none",
        "RAGFOOD_VECTOR_TOKEN": "rw",
        "RAGFOOD_VECTOR_READONLY_TOKEN": "ro",
        "RAGFOOD_VECTOR_LATENCY_MS": "15",
        "RAGFOOD_VECTOR_FAIL_RATE": "0.25",
        "RAGFOOD_VECTOR_SEED": "7",
    }

    result = CliRunner().invoke(app, ["serve"], env=env)

    assert result.exit_code == 0, result.output
    assert captured == [
        ServiceConfig(
            host="0.0.0.0",
            port=9999,
            data_dir=tmp_path,
            embedder="hash",
            dimension=64,
            sparse="none",
            token="rw",
            readonly_token="ro",
            latency_ms=15,
            fail_rate=0.25,
            seed=7,
        )
    ]


def test_command_line_options_override_the_environment(captured: list[ServiceConfig]) -> None:
    result = CliRunner().invoke(
        app, ["serve", "--port", "1234"], env={"RAGFOOD_VECTOR_PORT": "9999"}
    )

    assert result.exit_code == 0 and captured[0].port == 1234


def test_an_inconsistent_configuration_exits_with_a_message(captured: list[ServiceConfig]) -> None:
    result = CliRunner().invoke(app, ["serve", "--fail-rate", "2"])

    assert result.exit_code == 2 and "Fail rate must be between 0 and 1" in result.output


def test_minilm_refuses_another_dimension() -> None:
    with pytest.raises(ConfigError, match="384"):
        ServiceConfig(embedder="minilm", dimension=768)


def test_the_two_tokens_must_differ() -> None:
    with pytest.raises(ConfigError, match="must differ"):
        ServiceConfig(token="same", readonly_token="same")


def test_sparse_none_makes_a_dense_only_index(captured: list[ServiceConfig]) -> None:
    result = CliRunner().invoke(app, ["serve", "--sparse", "none"], env={})

    assert result.exit_code == 0, result.output
    assert captured[0].sparse == "none" and not captured[0].hybrid


def test_an_unknown_sparse_model_is_refused(captured: list[ServiceConfig]) -> None:
    result = CliRunner().invoke(app, ["serve", "--sparse", "splade"], env={})

    assert result.exit_code == 2 and not captured
    with pytest.raises(ConfigError, match="Unknown sparse model"):
        ServiceConfig(sparse="splade")


def test_help_documents_the_sparse_option() -> None:
    result = CliRunner().invoke(app, ["serve", "--help"], env={"COLUMNS": "200"})

    assert result.exit_code == 0
    assert "--sparse" in result.output and "bm25" in result.output and "hybrid" in result.output
