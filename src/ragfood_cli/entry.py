"""The `ragfood` console script: loads the CLI without cyclic garbage collection.

Importing ragfood.startup pauses the collector; ragfood_cli.main resumes it (freezing what was
loaded) once the command's own imports are done: 0.2 s of CPU of a 10,000-item ingest
(docs/performance.md). Importing ragfood_cli.main alone (tests, `python -m`) never pauses it.
"""

from __future__ import annotations


def main() -> None:
    from ragfood import startup  # noqa: F401  (pauses the collector)
    from ragfood_cli.main import app

    app()
