"""Sparse vectors: Upstash's ``{"indices": [...], "values": [...]}`` and how they are stored.

Indices are signed 32-bit integers, values 32-bit floats, at most 1,000 non-zero entries, as
Upstash documents them. Stored in SQLite as one blob: the int32 indices then the float32 values.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import numpy as np

from ragfood_vector.errors import bad_request
from ragfood_vector.jsonarrays import NOT_FINITE, float32_array, int_array

MAX_SPARSE_ENTRIES = 1000
_INT32 = (-(2**31), 2**31 - 1)


@dataclass(frozen=True)
class SparseVector:
    indices: np.ndarray  # int32, sorted ascending, unique
    values: np.ndarray  # float32, non-zero, same length

    def __len__(self) -> int:
        return len(self.indices)

    def to_blob(self) -> bytes:
        return self.indices.astype(np.int32).tobytes() + self.values.astype(np.float32).tobytes()

    @classmethod
    def from_blob(cls, blob: bytes) -> SparseVector:
        half = len(blob) // 2
        return cls(
            indices=np.frombuffer(blob[:half], dtype=np.int32),
            values=np.frombuffer(blob[half:], dtype=np.float32),
        )

    def to_json(self) -> dict[str, list[Any]]:
        return {
            "indices": [int(i) for i in self.indices],
            # Shortest decimal form of each float32, so 0.1 comes back as 0.1.
            "values": [float(text) for text in self.values.astype(str)],
        }


EMPTY = SparseVector(np.zeros(0, dtype=np.int32), np.zeros(0, dtype=np.float32))


def parse_sparse_vector(value: Any, where: str) -> SparseVector:
    """Validate a JSON sparse vector; entries whose value is 0 are dropped (they match nothing)."""
    if not isinstance(value, dict):
        raise bad_request(
            f"The sparseVector of {where} must be an object with 'indices' and 'values'"
        )
    indices, values = value.get("indices"), value.get("values")
    if not isinstance(indices, list) or not isinstance(values, list):
        raise bad_request(
            f"The sparseVector of {where} needs 'indices' and 'values' lists, got "
            f"{json.dumps(sorted(value))[:200]}"
        )
    if len(indices) != len(values):
        raise bad_request(
            f"The sparseVector of {where} has {len(indices)} indices but {len(values)} values; "
            "they must be of the same size"
        )
    if len(indices) > MAX_SPARSE_ENTRIES:
        raise bad_request(
            f"The sparseVector of {where} has {len(indices)} non-zero entries, "
            f"the maximum is {MAX_SPARSE_ENTRIES}"
        )
    if not indices:
        return EMPTY
    index_array = int_array(indices)
    if index_array is None:
        raise bad_request(f"The sparseVector indices of {where} must be integers")
    if index_array.min() < _INT32[0] or index_array.max() > _INT32[1]:
        raise bad_request(f"The sparseVector indices of {where} must be signed 32-bit integers")
    value_array = float32_array(values)
    if value_array is None:
        raise bad_request(f"The sparseVector values of {where} must be numbers")
    if not np.all(np.isfinite(value_array)):
        raise bad_request(f"The sparseVector values of {where} contain {NOT_FINITE}")
    order = np.argsort(index_array, kind="stable")
    index_array, value_array = index_array[order], value_array[order]
    if np.any(index_array[1:] == index_array[:-1]):
        raise bad_request(f"The sparseVector indices of {where} must not repeat")
    keep = value_array != 0
    return SparseVector(index_array[keep].astype(np.int32), value_array[keep])
