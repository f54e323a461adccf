"""Settings of the local Upstash-Vector-compatible service."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

EMBEDDERS = ("minilm", "hash", "none")
# The sparse side of the index: "bm25" makes it a hybrid index, "none" a dense-only one.
SPARSE_MODELS = ("bm25", "none")
MINILM_DIMENSION = 384

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8787
DEFAULT_DATA_DIR = ".ragfood/vector"
DEFAULT_EMBEDDER = "minilm"
DEFAULT_SPARSE = "bm25"
DEFAULT_DIMENSION = 384
DEFAULT_TOKEN = "local-dev-token"
DEFAULT_READONLY_TOKEN = "local-dev-readonly-token"


class ConfigError(ValueError):
    """The settings contradict each other; the message says which and how to fix it."""


@dataclass(frozen=True)
class ServiceConfig:
    host: str = DEFAULT_HOST
    port: int = DEFAULT_PORT
    data_dir: Path = Path(DEFAULT_DATA_DIR)
    embedder: str = DEFAULT_EMBEDDER
    dimension: int = DEFAULT_DIMENSION
    sparse: str = DEFAULT_SPARSE
    token: str = DEFAULT_TOKEN
    readonly_token: str = DEFAULT_READONLY_TOKEN
    latency_ms: float = 0.0
    fail_rate: float = 0.0
    seed: int = 0
    # Seconds sent as Retry-After with injected 429s (None: no header).
    retry_after_s: float | None = None
    # Write requests accepted before writes answer Upstash's used-up-quota error (None: no limit).
    write_quota: int | None = None

    def __post_init__(self) -> None:
        # Accept str paths from callers but keep one type inside the service.
        object.__setattr__(self, "data_dir", Path(self.data_dir))
        self.validate()

    def validate(self) -> None:
        if self.embedder not in EMBEDDERS:
            raise ConfigError(
                f"Unknown embedder {self.embedder!r}; choose one of {', '.join(EMBEDDERS)}"
            )
        if self.sparse not in SPARSE_MODELS:
            raise ConfigError(
                f"Unknown sparse model {self.sparse!r}; choose one of {', '.join(SPARSE_MODELS)}"
            )
        if self.embedder == "minilm" and self.dimension != MINILM_DIMENSION:
            raise ConfigError(
                f"The minilm embedder produces {MINILM_DIMENSION}-dimensional vectors; "
                f"--dimension {self.dimension} only applies to the hash and none embedders"
            )
        if not 1 <= self.dimension <= 20_000:
            raise ConfigError(f"Dimension must be between 1 and 20000, got {self.dimension}")
        if not 0 <= self.port <= 65_535:
            raise ConfigError(f"Port must be between 0 and 65535, got {self.port}")
        if self.latency_ms < 0:
            raise ConfigError(f"Latency must not be negative, got {self.latency_ms} ms")
        if not 0.0 <= self.fail_rate <= 1.0:
            raise ConfigError(f"Fail rate must be between 0 and 1, got {self.fail_rate}")
        if not self.token or not self.readonly_token:
            raise ConfigError("Both the token and the read-only token must be non-empty")
        if self.token == self.readonly_token:
            # Otherwise a request's access level would be ambiguous.
            raise ConfigError("The token and the read-only token must differ")

    @property
    def hybrid(self) -> bool:
        return self.sparse != "none"

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"
