"""`ragfood doctor`: check the configuration and every dependency, and name what is wrong."""

from __future__ import annotations

from dataclasses import dataclass, replace

from ragfood import services
from ragfood.config import Settings
from ragfood.errors import (
    ConfigError,
    GeneratorError,
    VectorAuthError,
    VectorError,
    VectorIndexMisconfigured,
)
from ragfood.redact import redact_text, redact_url
from ragfood.vector import IndexInfo


@dataclass(frozen=True)
class Check:
    name: str
    ok: bool
    detail: str
    warning: bool = False  # not broken, but worth knowing


def run_checks(settings: Settings) -> list[Check]:
    checks = [Check("configuration", True, _describe_config(settings))]
    checks += _vector_checks(settings)
    checks.append(_generator_check(settings))
    # URLs may carry credentials (user:pass@, ?api_key=): whatever a check says, never print them.
    return [replace(check, detail=redact_text(check.detail)) for check in checks]


def _describe_config(settings: Settings) -> str:
    generator = (
        f"{settings.generator_api} at {redact_url(settings.generator_url)}, "
        f"model {settings.generator_model}"
        if settings.generator_url
        else "none (answers quote the sources)"
    )
    namespace = settings.namespace or "(default)"
    index = redact_url(settings.vector_url) if settings.vector_url else "(not set)"
    return f"index {index}, namespace {namespace}; generator {generator}"


def _vector_checks(settings: Settings) -> list[Check]:
    try:
        reader = services.vector_gateway(write=False)
    except ConfigError as exc:
        return [Check("vector index", False, str(exc))]
    try:
        info = reader.info()
    except VectorAuthError as exc:
        return [Check("vector index", False, f"wrong token for reading: {exc}")]
    except VectorError as exc:
        from ragfood_cli.render import describe

        return [Check("vector index", False, describe(exc))]
    model = info.embedding_model or "none"
    namespace_count = info.namespaces.get(settings.namespace, 0)
    checks = [
        Check(
            "vector index",
            True,
            f"reachable; dimension {info.dimension}, {info.similarity}, model {model}, "
            f"{info.vector_count} vectors ({namespace_count} in this namespace)",
        )
    ]
    try:
        reader.query("doctor probe", top_k=1, namespace=settings.namespace)
        checks.append(Check("embedding model", True, f"the index embeds text ({model})"))
    except VectorIndexMisconfigured as exc:
        checks.append(Check("embedding model", False, str(exc)))
    except VectorError as exc:
        checks.append(Check("embedding model", False, f"query failed: {exc}"))
    checks.append(_retrieval_check(settings, info))
    checks.append(_write_check(settings))
    if namespace_count == 0:
        checks.append(
            Check("knowledge base", True, "this namespace is empty: run `ragfood ingest`", True)
        )
    return checks


def _retrieval_check(settings: Settings, info: IndexInfo) -> Check:
    """The index kind (hybrid or dense-only), its sparse model, and what retrieval will do."""
    tuning = f"lexical weight {settings.lexical_weight}, min score {settings.min_score}"
    if info.hybrid:
        kind = (
            f"hybrid index: dense {info.embedding_model or 'vectors'} + sparse {info.sparse_model}"
        )
    else:
        kind = "dense-only index (no sparse model)"
    if settings.retrieval == "hybrid" and not info.hybrid:
        return Check(
            "retrieval",
            False,
            f"{kind}, but RAGFOOD_RETRIEVAL=hybrid: its sparse queries will be refused; "
            "unset it (auto) or create the index as hybrid",
        )
    if settings.retrieval == "dense" and info.hybrid:
        return Check(
            "retrieval",
            False,
            f"{kind}, but RAGFOOD_RETRIEVAL=dense: its queries would return fused scores, not "
            "dense ones, and be refused; unset it (auto) or set it to hybrid",
        )
    if not info.hybrid:
        return Check(
            "retrieval",
            True,
            f"{kind}: dense candidates only ({tuning}); a hybrid index (dense + BM25) also finds "
            "items by their exact rare words (docs/deploy.md)",
            True,
        )
    return Check("retrieval", True, f"{kind}; dense + sparse candidates in one request ({tuning})")


def _write_check(settings: Settings) -> Check:
    try:
        services.vector_gateway(write=True).check_write_access(settings.namespace)
    except ConfigError as exc:
        return Check("write access", True, f"not configured ({exc}); ingest will not work", True)
    except VectorAuthError:
        return Check(
            "write access",
            False,
            "UPSTASH_VECTOR_REST_TOKEN cannot write (is it the read-only token?); ingest needs "
            "the read-write token",
        )
    except VectorError as exc:
        return Check("write access", False, str(exc))
    return Check("write access", True, "the read-write token may write")


def _generator_check(settings: Settings) -> Check:
    generator = services.generator()
    if generator is None:
        return Check("generator", True, "GENERATOR_URL is not set: answers quote the sources", True)
    try:
        models = generator.list_models()
    except GeneratorError as exc:
        return Check("generator", False, str(exc))
    if models and not any(_same_model(settings.generator_model, m) for m in models):
        offered = ", ".join(sorted(models)[:10])
        return Check(
            "generator",
            False,
            f"unknown model {settings.generator_model!r} at {redact_url(generator.url)}; "
            f"it offers: {offered}",
        )
    return Check(
        "generator",
        True,
        f"{generator.api} at {redact_url(generator.url)} serves {generator.model}",
    )


def _same_model(wanted: str, offered: str) -> bool:
    # Ollama lists "llama3.2:latest" for a model asked for as "llama3.2".
    return offered == wanted or offered == f"{wanted}:latest"
