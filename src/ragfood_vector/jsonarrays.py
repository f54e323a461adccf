"""Flat JSON arrays of numbers (dense vectors, sparse indices and values) as numpy arrays.

numpy's own type inference lets garbage through or breaks: ``np.array([0.5, True])`` is
``[0.5, 1.0]`` and a nested list raises ValueError. ``set(map(type, ...))`` looks at every
element without a Python-level loop, so a 1,000-vector upsert stays cheap.
"""

from __future__ import annotations

from typing import Any

import numpy as np

_INT64 = (-(2**63), 2**63 - 1)
NOT_FINITE = "a value that is not a finite 32-bit float (at most ±3.4e38)"


def float32_array(value: Any) -> np.ndarray | None:
    """``value`` as float32 if it is a list of JSON numbers (booleans are not), else None.

    A number no float32 holds becomes infinity, which the caller refuses as NOT_FINITE.
    """
    if not isinstance(value, list) or not set(map(type, value)) <= {int, float}:
        return None
    try:
        doubles = np.array(value, dtype=np.float64)
    except OverflowError:  # an integer literal no double holds
        doubles = np.array([_float_or_infinity(v) for v in value], dtype=np.float64)
    with np.errstate(over="ignore"):
        return doubles.astype(np.float32)


def int_array(value: Any) -> np.ndarray | None:
    """``value`` as int64 if it is a list of JSON integers (booleans are not), else None.

    Integers beyond int64 are clipped to its bounds, which the caller's range check refuses.
    """
    if not isinstance(value, list) or not set(map(type, value)) <= {int}:
        return None
    try:
        return np.array(value, dtype=np.int64)
    except OverflowError:
        return np.array([min(max(v, _INT64[0]), _INT64[1]) for v in value], dtype=np.int64)


def _float_or_infinity(number: int | float) -> float:
    try:
        return float(number)
    except OverflowError:
        return float("inf") if number > 0 else float("-inf")
