"""``ragfood vector serve``: a typer sub-app the project CLI mounts under ``vector``."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path

import typer

from ragfood_vector import config as defaults
from ragfood_vector.config import ConfigError, ServiceConfig
from ragfood_vector.listen import ServeError
from ragfood_vector.store import StoreMismatchError

app = typer.Typer(
    name="vector",
    help="Local Upstash-Vector-compatible service for development and tests.",
    no_args_is_help=True,
    add_completion=False,
)


class EmbedderName(StrEnum):
    minilm = "minilm"
    hash = "hash"
    none = "none"


class SparseName(StrEnum):
    bm25 = "bm25"
    none = "none"


@app.callback()
def main() -> None:
    """Local Upstash-Vector-compatible service for development and tests."""
    # A callback keeps `serve` a named sub-command when this app runs on its own
    # (python -m ragfood_vector serve), as it is when mounted as `ragfood vector serve`.


@app.command()
def serve(
    host: str = typer.Option(
        defaults.DEFAULT_HOST, envvar="RAGFOOD_VECTOR_HOST", help="Interface to listen on."
    ),
    port: int = typer.Option(defaults.DEFAULT_PORT, envvar="RAGFOOD_VECTOR_PORT", help="TCP port."),
    data_dir: Path = typer.Option(
        Path(defaults.DEFAULT_DATA_DIR),
        envvar="RAGFOOD_VECTOR_DATA_DIR",
        help="Directory of the SQLite database (created if missing).",
    ),
    embedder: EmbedderName = typer.Option(
        EmbedderName.minilm,
        envvar="RAGFOOD_VECTOR_EMBEDDER",
        help="minilm: all-MiniLM-L6-v2 (384 dims); hash: fast feature hashing; "
        "none: an index without embedding model (raw vectors only).",
    ),
    dimension: int = typer.Option(
        defaults.DEFAULT_DIMENSION,
        envvar="RAGFOOD_VECTOR_DIMENSION",
        help="Vector dimension for the hash and none embedders.",
    ),
    sparse: SparseName = typer.Option(
        SparseName(defaults.DEFAULT_SPARSE),
        envvar="RAGFOOD_VECTOR_SPARSE",
        help="bm25: a hybrid index, dense + Upstash-style hosted BM25 (English, stop words, "
        "Snowball stems, IDF kept per namespace), queried with queryMode HYBRID/DENSE/SPARSE "
        "and RRF or DBSF fusion; none: a dense-only index.",
    ),
    token: str = typer.Option(
        defaults.DEFAULT_TOKEN,
        envvar="RAGFOOD_VECTOR_TOKEN",
        help="Read-write bearer token.",
        show_default=False,
    ),
    readonly_token: str = typer.Option(
        defaults.DEFAULT_READONLY_TOKEN,
        envvar="RAGFOOD_VECTOR_READONLY_TOKEN",
        help="Read-only bearer token.",
        show_default=False,
    ),
    latency_ms: float = typer.Option(
        0.0, envvar="RAGFOOD_VECTOR_LATENCY_MS", help="Delay added to every request (ms)."
    ),
    fail_rate: float = typer.Option(
        0.0,
        envvar="RAGFOOD_VECTOR_FAIL_RATE",
        help="Fraction of requests answered 429 or 503 before doing any work.",
    ),
    seed: int = typer.Option(0, envvar="RAGFOOD_VECTOR_SEED", help="Seed of the fault injection."),
    retry_after: float | None = typer.Option(
        None, envvar="RAGFOOD_VECTOR_RETRY_AFTER", help="Retry-After (s) sent with injected 429s."
    ),
    write_quota: int | None = typer.Option(
        None,
        envvar="RAGFOOD_VECTOR_WRITE_QUOTA",
        help="Write requests allowed before writes fail like a used-up Upstash daily quota.",
    ),
) -> None:
    """Serve the Upstash Vector REST API locally until interrupted."""
    from ragfood_vector.server import serve as run_server  # keeps `--help` fast

    try:
        config = ServiceConfig(
            host=host,
            port=port,
            data_dir=data_dir,
            embedder=embedder.value,
            dimension=dimension,
            sparse=sparse.value,
            token=token,
            readonly_token=readonly_token,
            latency_ms=latency_ms,
            fail_rate=fail_rate,
            seed=seed,
            retry_after_s=retry_after,
            write_quota=write_quota,
        )
        try:
            data_dir.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise ConfigError(
                f"--data-dir {data_dir} cannot be used as a directory ({exc.strerror})"
            ) from None
        run_server(config)
    except (ConfigError, StoreMismatchError, ServeError) as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(code=2) from exc
