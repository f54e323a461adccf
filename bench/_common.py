"""Shared set-up for the benchmarks: import paths, data generation, table printing."""

from __future__ import annotations

import random
import statistics
import sys
from collections.abc import Sequence
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
for path in (REPO, REPO / "bench"):
    if str(path) not in sys.path:
        sys.path.insert(0, str(path))

# One vocabulary for every generated food, the migration tests' included.
from tests.support.chroma import REGIONS as _CHROMA_REGIONS  # noqa: E402
from tests.support.chroma import TYPES, WORDS  # noqa: E402

REGIONS = ["Italy", *_CHROMA_REGIONS]


def generated_foods(count: int, seed: int = 0, first: int = 0) -> list[dict[str, str]]:
    """Items numbered from `first`: give each contender its own numbers, so that neither finds
    the other's words already in the local service's embedding cache."""
    rng = random.Random(seed)
    foods = []
    for i in range(first, first + count):
        words = " ".join(rng.choices(WORDS, k=12))
        foods.append(
            {
                "id": f"food-{i:06d}",
                "text": f"Dish {i} is made with {words}.",
                "region": rng.choice(REGIONS),
                "type": rng.choice(TYPES),
            }
        )
    return foods


def percentile(values: Sequence[float], pct: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return 0.0
    index = min(len(ordered) - 1, max(0, round(pct / 100 * (len(ordered) - 1))))
    return ordered[index]


def median(values: Sequence[float]) -> float:
    return statistics.median(values) if values else 0.0


def print_table(title: str, headers: Sequence[str], rows: Sequence[Sequence[object]]) -> None:
    cells = [[str(h) for h in headers], *[[_fmt(c) for c in row] for row in rows]]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
    print(f"\n{title}")
    for n, row in enumerate(cells):
        print("  " + "  ".join(cell.rjust(widths[i]) for i, cell in enumerate(row)))
        if n == 0:
            print("  " + "  ".join("-" * w for w in widths))


def _fmt(value: object) -> str:
    if isinstance(value, float):
        return f"{value:,.1f}" if abs(value) >= 10 else f"{value:.2f}"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)
