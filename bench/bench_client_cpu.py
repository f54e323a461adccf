"""Client-side CPU of an ingest: the `ragfood ingest` process next to the naive client's process.

    .venv/bin/python bench/bench_client_cpu.py [--items 10000] [--runs 5]

Both write the same number of generated items (each its own items: no warm cache for either) into
the local vector service (hash embedder) in a fresh namespace, with no added latency. The figure
is the CPU time (user + system) of the client PROCESS only — interpreter start, imports, JSON,
validation, hashing, HTTP — never the service's, which runs in its own process. Median of --runs,
the two contenders interleaved; other work on this 2-core machine inflates both alike.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _common import REPO, generated_foods, median, print_table

from ragfood_vector.launcher import VectorServer

PYTHON = REPO / ".venv" / "bin" / "python"
NAIVE = (
    "import json, sys\n"
    f"sys.path.insert(0, {str(REPO / 'bench')!r})\n"
    "from naive import naive_ingest\n"
    "url, token, path, namespace = sys.argv[1:5]\n"
    "items = json.load(open(path))\n"
    "naive_ingest(url, token, items, namespace=namespace)\n"
)


def child_cpu(argv: list[str], env: dict[str, str]) -> tuple[float, float]:
    """(CPU seconds, wall seconds) of one child process."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    subprocess.run(argv, env=env, check=True, capture_output=True)
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime), wall


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--items", type=int, default=10_000)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()

    # Both clients' code with its bytecode, as `pip install` leaves it: the editable install of
    # this checkout would otherwise compile every ragfood module on every run wherever
    # PYTHONDONTWRITEBYTECODE is set (~40 ms of CPU the naive client's one module does not pay).
    subprocess.run(
        [str(PYTHON), "-m", "compileall", "-q", *(str(REPO / d) for d in ("shared", "src"))],
        check=True,
    )
    subprocess.run([str(PYTHON), "-m", "compileall", "-q", str(REPO / "bench" / "naive.py")])
    cpu: dict[str, list[float]] = {"naive client": [], "ragfood ingest": []}
    wall: dict[str, list[float]] = {"naive client": [], "ragfood ingest": []}
    with VectorServer(embedder="hash") as server, tempfile.TemporaryDirectory() as tmp:
        env = {**os.environ, **server.client_env(), "RAGFOOD_MAX_DELETE_FRACTION": "1"}
        for run in range(args.runs):
            for name in list(cpu) if run % 2 == 0 else list(reversed(cpu)):
                first = (run * 2 + (name == "naive client")) * args.items
                path = Path(tmp) / f"{name.split()[0]}-{run}.json"
                path.write_text(json.dumps(generated_foods(args.items, first=first)))
                namespace = f"cpu-{name.split()[0]}-{run}"
                if name == "naive client":
                    argv = [
                        str(PYTHON),
                        "-c",
                        NAIVE,
                        server.url,
                        server.token,
                        str(path),
                        namespace,
                    ]
                else:
                    argv = [  # the console script, as users run it
                        str(REPO / ".venv" / "bin" / "ragfood"),
                        "ingest",
                        str(path),
                        "--json",
                        "--namespace",
                        namespace,
                    ]
                seconds, elapsed = child_cpu(argv, env)
                cpu[name].append(seconds)
                wall[name].append(elapsed)
            print(f"  run {run + 1}/{args.runs} done", file=sys.stderr, flush=True)
    base = median(cpu["naive client"])
    print_table(
        f"Client CPU to ingest {args.items:,} new items, whole process, median of {args.runs}",
        ["client", "CPU s", "wall s", "CPU vs naive"],
        [
            [
                name,
                f"{median(cpu[name]):.2f}",
                f"{median(wall[name]):.2f}",
                f"{median(cpu[name]) / base:.2f}x",
            ]
            for name in cpu
        ],
    )


if __name__ == "__main__":
    main()
