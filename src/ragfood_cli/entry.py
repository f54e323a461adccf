"""The `ragfood` console script: loads the CLI without cyclic garbage collection.

Importing ragfood.startup pauses the collector; ragfood_cli.main resumes it (freezing what was
loaded) once the command's own imports are done: 0.2 s of CPU of a 10,000-item ingest
(docs/performance.md). Importing ragfood_cli.main alone (tests, `python -m`) never pauses it.
"""

from __future__ import annotations

import sys


def main() -> None:
    # httpx imports its own command-line client (`httpx._main`, with click, pygments and rich)
    # whenever those happen to be installed, as they are beside this CLI: ~30 ms of CPU on every
    # `ragfood` run, for a tool we never call. A None entry makes that optional import fail the
    # way httpx expects (it falls back to a stub `httpx.main`). Rich itself is loaded only by the
    # commands that print with it (ragfood_cli.render).
    sys.modules.setdefault("httpx._main", None)  # type: ignore[arg-type]
    from ragfood import startup  # noqa: F401  (pauses the collector)
    from ragfood_cli.main import app

    app()
