"""`make bench`: every benchmark in one go; each prints its own table.

    .venv/bin/python bench/run_all.py [--quick]

--quick uses smaller sizes for a fast look; docs/performance.md quotes a full run.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

BENCH = Path(__file__).resolve().parent

FULL = [
    ["bench_ingest.py", "--sizes", "1000,10000,50000"],
    ["bench_reingest.py", "--size", "50000"],
    ["bench_throttling.py", "--runs", "4"],
    ["bench_ask.py", "--questions", "200"],
    ["bench_cold_start.py", "--runs", "15", "--rebuild", "--ssm"],
    ["bench_client_cpu.py", "--items", "10000", "--runs", "5"],
    ["vector_scale.py", "--sizes", "1000,10000,100000"],
    ["bench_ask_budget.py", "--asks", "5"],
    ["bench_stream.py", "--asks", "5"],
    ["migrate_compare.py"],
    ["bench_retrieval.py"],
]
QUICK = [
    ["bench_ingest.py", "--sizes", "1000,10000"],
    ["bench_reingest.py", "--size", "5000", "--runs", "1"],
    ["bench_throttling.py", "--items", "4000", "--runs", "2"],
    ["bench_ask.py", "--questions", "50"],
    ["bench_cold_start.py", "--runs", "3", "--rebuild"],
    ["bench_client_cpu.py", "--items", "2000", "--runs", "1"],
    ["vector_scale.py", "--sizes", "1000,10000"],
    ["bench_ask_budget.py", "--asks", "2"],
    ["bench_stream.py", "--asks", "2"],
    ["bench_retrieval.py", "--embedder", "hash", "--skip-serve"],
]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    for script, *options in QUICK if args.quick else FULL:
        print(f"\n=== {script} {' '.join(options)}", flush=True)
        started = time.perf_counter()
        result = subprocess.run(
            [sys.executable, str(BENCH / script), *options],
            env={"POWERTOOLS_LOG_LEVEL": "ERROR", **os.environ},
        )
        print(f"=== {script}: {time.perf_counter() - started:.0f} s", flush=True)
        if result.returncode != 0:
            print(f"{script} failed with exit code {result.returncode}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
