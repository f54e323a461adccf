"""GET /health: liveness and configuration (also the Lambda Web Adapter's readiness check)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from ragfood import services

router = APIRouter()


@router.get("/health")
def health() -> dict[str, Any]:
    """Liveness and configuration, without touching dependencies (so it is cheap to poll)."""
    settings = services.settings()
    return {
        "status": "ok",
        "vector_configured": bool(settings.vector_url),
        "generator": settings.generator_api if settings.generator_url else "extractive",
    }
