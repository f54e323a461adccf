"""Reading the JSON files users hand the CLI (events, env-vars, question sets): every failure is a
ValueError whose message names the file and the problem, ready to print."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

_KINDS = {list: "an array", dict: "an object", str: "a string", bool: "a boolean"}


def load_json(path: Path) -> Any:
    try:
        text = path.read_bytes().decode("utf-8-sig")  # a BOM from a Windows editor is fine
    except UnicodeDecodeError:
        raise ValueError(f"{path}: is not UTF-8 text; save it as UTF-8 JSON") from None
    if not text.strip():
        raise ValueError(f"{path}: is empty; expected JSON")
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise ValueError(
            f"{path}: is not valid JSON ({exc.msg} at line {exc.lineno}, column {exc.colno})"
        ) from None


def load_json_object(path: Path, what: str) -> dict[str, Any]:
    """The file's JSON object; `what` says what it stands for (e.g. "the event")."""
    data = load_json(path)
    if not isinstance(data, dict):
        raise ValueError(f"{path}: must hold a JSON object ({what}), got {kind_of(data)}")
    return data


def kind_of(value: Any) -> str:
    return "null" if value is None else _KINDS.get(type(value), "a number")
