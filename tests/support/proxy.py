"""The benchmarks' latency proxy (bench/latency_proxy.py), for tests that watch the wire."""

from __future__ import annotations

import importlib.util
from pathlib import Path

_PATH = Path(__file__).resolve().parents[2] / "bench" / "latency_proxy.py"
_spec = importlib.util.spec_from_file_location("ragfood_bench_latency_proxy", _PATH)
assert _spec is not None and _spec.loader is not None
_module = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_module)

LatencyProxy = _module.LatencyProxy
