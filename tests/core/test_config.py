"""Specification of settings: read from the environment, fail fast naming the variable."""

from __future__ import annotations

import pytest

from ragfood.config import load_settings
from ragfood.errors import ConfigError

SECRET = "s3cr3t-token-value-0123456789"


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in (
        "UPSTASH_VECTOR_REST_URL",
        "UPSTASH_VECTOR_REST_TOKEN",
        "UPSTASH_VECTOR_REST_READONLY_TOKEN",
        "GENERATOR_URL",
        "GENERATOR_MODEL",
        "GENERATOR_API",
        "GENERATOR_API_KEY",
        "RAGFOOD_TOP_K",
    ):
        monkeypatch.delenv(name, raising=False)


def test_defaults_need_no_environment():
    settings = load_settings()
    assert settings.generator_model == "llama3.2"
    assert settings.generator_api == "ollama"
    assert settings.generator_url is None


def test_values_come_from_the_documented_variables(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("UPSTASH_VECTOR_REST_URL", "https://example-vector.upstash.io/")
    monkeypatch.setenv("GENERATOR_API", "openai")
    monkeypatch.setenv("RAGFOOD_TOP_K", "7")
    settings = load_settings()
    assert settings.vector_url == "https://example-vector.upstash.io"
    assert settings.generator_api == "openai"
    assert settings.top_k == 7


def test_malformed_value_names_the_variable(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("RAGFOOD_TOP_K", "many")
    with pytest.raises(ConfigError, match="RAGFOOD_TOP_K"):
        load_settings()


def test_unknown_generator_api_is_refused(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("GENERATOR_API", "carrier-pigeon")
    with pytest.raises(ConfigError, match="GENERATOR_API"):
        load_settings()


def test_url_without_scheme_is_refused(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("UPSTASH_VECTOR_REST_URL", "example.upstash.io")
    with pytest.raises(ConfigError, match=r"UPSTASH_VECTOR_REST_URL: .*http"):
        load_settings()


def test_missing_vector_settings_are_named_when_needed():
    with pytest.raises(ConfigError, match="UPSTASH_VECTOR_REST_URL, UPSTASH_VECTOR_REST_TOKEN"):
        load_settings().require_vector(write=True)


def test_read_path_falls_back_to_the_read_write_token(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("UPSTASH_VECTOR_REST_URL", "http://127.0.0.1:1")
    monkeypatch.setenv("UPSTASH_VECTOR_REST_TOKEN", SECRET)
    _, token = load_settings().require_vector(write=False)
    assert token.get_secret_value() == SECRET


def test_read_path_prefers_the_read_only_token(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("UPSTASH_VECTOR_REST_URL", "http://127.0.0.1:1")
    monkeypatch.setenv("UPSTASH_VECTOR_REST_TOKEN", SECRET)
    monkeypatch.setenv("UPSTASH_VECTOR_REST_READONLY_TOKEN", "read-only")
    _, token = load_settings().require_vector(write=False)
    assert token.get_secret_value() == "read-only"


def test_secrets_never_appear_in_repr(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("UPSTASH_VECTOR_REST_TOKEN", SECRET)
    monkeypatch.setenv("GENERATOR_API_KEY", SECRET)
    settings = load_settings()
    assert SECRET not in repr(settings) and SECRET not in str(settings.model_dump())


def test_errors_never_echo_the_bad_value(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("RAGFOOD_TOP_K", SECRET)
    with pytest.raises(ConfigError) as info:
        load_settings()
    assert SECRET not in str(info.value)
