"""`make demo` end to end (with the fast hash embedder): three sourced answers, nothing left."""

from __future__ import annotations

import os
import subprocess
import sys

from tests.cli.conftest import REPO


def command_lines() -> list[str]:
    """Command lines of every live process (from /proc)."""
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/cmdline", "rb") as cmd:
                    found.append(cmd.read().replace(b"\0", b" ").decode())
            except OSError:
                continue
    return found


def test_demo_answers_three_questions_with_sources_and_stops_what_it_started():
    result = subprocess.run(
        [sys.executable, "-m", "ragfood_cli.demo"],
        cwd=REPO,
        # The default min score is calibrated for MiniLM; hash embeddings score lower.
        env={**os.environ, "RAGFOOD_DEMO_EMBEDDER": "hash", "RAGFOOD_MIN_SCORE": "0.5"},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    out = result.stdout
    assert out.count("Q: ") == 3
    assert out.count("generator: extractive") == 3  # each answer is followed by its sources
    assert "445 items, 445 upserted" in out
    # The demo's vector service runs on a data dir named ragfood-demo-*; none may outlive it.
    assert not [c for c in command_lines() if "ragfood_vector" in c and "ragfood-demo-" in c]
