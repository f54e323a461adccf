"""One typed settings object, read from the environment once per container.

Every field is validated under the name of the environment variable that sets it, so an error can
name the variable a user must fix. Secrets are `SecretStr`: they print as '**********' in reprs,
logs and tracebacks. Secrets may also be given as SSM parameter names (`*_PARAM`), resolved once
per container. A plain pydantic model fed from `os.environ` does what pydantic-settings would, for
a fraction of its import time (which every cold start pays).
"""

# No `from __future__ import annotations`: pydantic would evaluate every annotation from its
# string again when it builds the settings, ~0.3 ms of each cold start (docs/performance.md).

import os
from typing import Literal
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, field_validator

from ragfood.errors import ConfigError

# The relevance defaults (see `Settings.min_score`), also the Pipeline's own defaults.
# Chosen on the first three labelled sets pooled; kept when holdout3 and holdout4 were added: the
# four-set choice (w 0.50, min 0.57) did worse held out on one set, the five-set one (w 0.60, min
# 0.5275) gives the same figures on every set (docs/performance.md, Retrieval).
MIN_SCORE = 0.545
LEXICAL_WEIGHT = 0.55


def _env(name: str, **kwargs):
    return Field(validation_alias=name, **kwargs)


class Settings(BaseModel):
    """Everything the core needs; defaults are tuned for the bundled data set (see docs)."""

    model_config = ConfigDict(populate_by_name=True, extra="ignore", frozen=True)

    vector_url: str | None = _env("UPSTASH_VECTOR_REST_URL", default=None)
    vector_token: SecretStr | None = _env("UPSTASH_VECTOR_REST_TOKEN", default=None)
    vector_readonly_token: SecretStr | None = _env(
        "UPSTASH_VECTOR_REST_READONLY_TOKEN", default=None
    )
    vector_token_param: str | None = _env("UPSTASH_VECTOR_REST_TOKEN_PARAM", default=None)
    vector_readonly_token_param: str | None = _env(
        "UPSTASH_VECTOR_REST_READONLY_TOKEN_PARAM", default=None
    )
    namespace: str = _env("RAGFOOD_NAMESPACE", default="", max_length=100)

    generator_url: str | None = _env("GENERATOR_URL", default=None)
    generator_model: str = _env("GENERATOR_MODEL", default="llama3.2", min_length=1)
    generator_api: Literal["ollama", "openai"] = _env("GENERATOR_API", default="ollama")
    generator_api_key: SecretStr | None = _env("GENERATOR_API_KEY", default=None)
    generator_api_key_param: str | None = _env("GENERATOR_API_KEY_PARAM", default=None)
    generator_timeout_s: float = _env("GENERATOR_TIMEOUT_S", default=30.0, gt=0, le=900)
    generator_max_tokens: int = _env("GENERATOR_MAX_TOKENS", default=400, ge=16, le=8192)
    generator_max_attempts: int = _env("GENERATOR_MAX_ATTEMPTS", default=2, ge=1, le=5)

    # Queries must fit in an API request; writes embed up to 1000 texts server-side per request.
    vector_timeout_s: float = _env("RAGFOOD_VECTOR_TIMEOUT_S", default=10.0, gt=0, le=600)
    vector_write_timeout_s: float = _env(
        "RAGFOOD_VECTOR_WRITE_TIMEOUT_S", default=120.0, gt=0, le=900
    )
    max_attempts: int = _env("RAGFOOD_MAX_ATTEMPTS", default=4, ge=1, le=10)
    retry_initial_s: float = _env("RAGFOOD_RETRY_INITIAL_S", default=0.2, ge=0, le=10)
    retry_max_s: float = _env("RAGFOOD_RETRY_MAX_S", default=4.0, ge=0, le=60)

    top_k: int = _env("RAGFOOD_TOP_K", default=4, ge=1, le=50)
    # Relevance = (1 - w) * dense score + w * lexical coverage; the best source must reach the
    # min score or the question is refused. Chosen by the calibration of `ragfood eval
    # --calibrate` on the labelled sets pooled (which ones: MIN_SCORE above;
    # bench/bench_retrieval.py prints it with its held-out figures: pooled CV and cross-set;
    # docs/performance.md, Retrieval); re-calibrate for another embedding model.
    min_score: float = _env("RAGFOOD_MIN_SCORE", default=MIN_SCORE, ge=0, le=1)
    lexical_weight: float = _env("RAGFOOD_LEXICAL_WEIGHT", default=LEXICAL_WEIGHT, ge=0, le=1)
    # auto: read the index kind (hybrid or dense-only) from info() once per container.
    retrieval: Literal["auto", "dense", "hybrid"] = _env("RAGFOOD_RETRIEVAL", default="auto")
    batch_size: int = _env("RAGFOOD_BATCH_SIZE", default=500, ge=1, le=1000)
    parallelism: int = _env("RAGFOOD_PARALLELISM", default=4, ge=1, le=32)
    max_delete_fraction: float = _env("RAGFOOD_MAX_DELETE_FRACTION", default=0.5, ge=0, le=1)
    cache_ttl_s: float = _env("RAGFOOD_CACHE_TTL_S", default=300.0, ge=0)
    cache_size: int = _env("RAGFOOD_CACHE_SIZE", default=256, ge=0)
    # Conversation turns: a DynamoDB table on AWS; unset = kept in this process (local runs).
    sessions_table: str | None = _env("RAGFOOD_SESSIONS_TABLE", default=None)
    session_ttl_s: float = _env("RAGFOOD_SESSION_TTL_S", default=3600.0, ge=60, le=7 * 86400)
    # "No information" results are what an upload changes: not cached unless asked (freshness).
    no_answer_cache_ttl_s: float = _env("RAGFOOD_NO_ANSWER_CACHE_TTL_S", default=0.0, ge=0)
    # The whole ask (query, retries, generation) ends within this; API Gateway gives up at 29 s.
    ask_budget_s: float = _env("RAGFOOD_ASK_BUDGET_S", default=25.0, gt=0, le=900)

    @field_validator(
        "vector_url",
        "generator_url",
        "vector_token",
        "vector_readonly_token",
        "generator_api_key",
        "vector_token_param",
        "vector_readonly_token_param",
        "generator_api_key_param",
        "sessions_table",
        mode="before",
    )
    @classmethod
    def _blank_is_unset(cls, value: object) -> object:
        # Templates and env files often pass an empty string for "not configured".
        return None if isinstance(value, str) and not value.strip() else value

    @field_validator("vector_token", "vector_readonly_token", "generator_api_key")
    @classmethod
    def _header_safe(cls, value: SecretStr | None) -> SecretStr | None:
        return None if value is None else SecretStr(header_safe(value.get_secret_value()))

    @field_validator("namespace")
    @classmethod
    def _usable_namespace(cls, value: str) -> str:
        if problem := namespace_problem(value):
            raise ValueError(f"cannot be used: {problem}")
        return value

    @field_validator("vector_url", "generator_url")
    @classmethod
    def _http_url(cls, value: str | None) -> str | None:
        if value is None:
            return None
        if not value.startswith(("http://", "https://")):
            raise ValueError("must start with http:// or https://")
        try:
            parts = urlsplit(value)
            valid = bool(parts.hostname) and (parts.port is None or parts.port > 0)
        except ValueError:  # a bad port or an unclosed [IPv6 address
            valid = False
        if not valid:  # the value is not repeated: it may carry credentials
            raise ValueError("is not a URL with a host (and a port from 1 to 65535, if any)")
        return value.rstrip("/")

    @property
    def readonly_token(self) -> SecretStr | None:
        """The ask path needs read access only; fall back to the read-write token if unset."""
        return self.vector_readonly_token or self.vector_token

    def require_vector(self, *, write: bool) -> tuple[str, SecretStr]:
        """URL and token for reads or writes, or a ConfigError naming what is missing."""
        missing = []
        if not self.vector_url:
            missing.append("UPSTASH_VECTOR_REST_URL")
        token = self.vector_token if write else self.readonly_token
        if token is None or not token.get_secret_value():
            missing.append(
                "UPSTASH_VECTOR_REST_TOKEN"
                if write
                else "UPSTASH_VECTOR_REST_READONLY_TOKEN (or UPSTASH_VECTOR_REST_TOKEN)"
            )
        if missing:
            raise ConfigError("missing setting: " + ", ".join(missing))
        assert self.vector_url is not None and token is not None
        return self.vector_url, token


def namespace_problem(name: str) -> str | None:
    """Why `name` cannot be a namespace, if it cannot: the SDK sends it as a URL path segment as
    it is, so "#a" would write into the default namespace and "a?x=1" into "a"."""
    if name in (".", "..") or any(ch in "/?#%\\" or ord(ch) < 32 for ch in name):
        return (
            "it would change the request's URL (no '/', '?', '#', '%', '\\' or control "
            "characters; not '.' or '..')"
        )
    if name != name.strip():
        return (
            "it begins or ends with spaces, which make it a namespace of its own "
            "('acme ' is not 'acme')"
        )
    return None


def header_safe(secret: str) -> str:
    """A secret fit to send in an HTTP header: surrounding whitespace (a pasted or saved line
    break) dropped; anything else a header cannot carry refused, without showing the secret
    (httpx would quote the whole header in its error)."""
    secret = secret.strip()
    if not all(" " < ch < "\x7f" for ch in secret):
        raise ValueError(
            "holds spaces, line breaks or non-ASCII characters, which no token has; paste it again"
        )
    return secret


ENV_NAMES = tuple(str(f.validation_alias) for f in Settings.model_fields.values())


def load_settings(**overrides: object) -> Settings:
    """Read the environment (plus explicit overrides) or fail fast naming each bad variable."""
    environment = {name: os.environ[name] for name in ENV_NAMES if name in os.environ}
    try:
        settings = Settings.model_validate({**environment, **overrides})
    except ValidationError as exc:
        problems = []
        for err in exc.errors():
            name = ".".join(str(part) for part in err["loc"]) or "settings"
            # Never echo the input: it may be a secret.
            problems.append(f"{name}: {err['msg']}")
        raise ConfigError("invalid setting: " + "; ".join(problems)) from None
    return resolve_parameters(settings)


def resolve_parameters(settings: Settings) -> Settings:
    """Replace secrets given as SSM parameter names with their values (once per container)."""
    wanted = {
        "vector_token": settings.vector_token_param,
        "vector_readonly_token": settings.vector_readonly_token_param,
        "generator_api_key": settings.generator_api_key_param,
    }
    # A value given directly (local runs, tests) wins over a parameter name.
    wanted = {f: name for f, name in wanted.items() if name and getattr(settings, f) is None}
    if not wanted:
        return settings
    # Imported here: boto3 is only needed, and only paid for, when parameters are used.
    from aws_lambda_powertools.utilities.parameters import SSMProvider

    from ragfood import aws

    provider = SSMProvider(boto3_session=aws.session())  # the container's one session
    resolved: dict[str, SecretStr] = {}
    for field, name in wanted.items():
        try:
            value = provider.get(name, decrypt=True, max_age=3600)
        except Exception as exc:
            raise ConfigError(f"cannot read SSM parameter {name!r}: {type(exc).__name__}") from None
        try:
            resolved[field] = SecretStr(header_safe(str(value)))
        except ValueError as exc:
            raise ConfigError(f"SSM parameter {name!r} {exc}") from None
    return settings.model_copy(update=resolved)
