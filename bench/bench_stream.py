"""What a user of POST /ask/stream waits for: the sources, the first token, the end.

    .venv/bin/python bench/bench_stream.py [--budget-s 6] [--asks 5]

Two generators, both the stub on loopback: "words" streams its answer a word every 50 ms and
finishes; "trickle" sends a token a second forever (issue 12's case: with RAGFOOD_ASK_BUDGET_S=6
the spec is the first token within 2.5 s and `done` within 8 s). Everything is a real process:
the local vector service (hash embedder, data/foods.json), the stub, and `ragfood serve`; each
ask is a fresh HTTP POST timed by the client from sending the request to each event.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import time

import httpx
from _common import REPO, median, print_table

from ragfood_cli.stream_client import events
from ragfood_vector.launcher import VectorServer
from tests.support.generator_stub import GeneratorStub
from tests.support.serve import RAGFOOD, ragfood_serve

QUESTIONS = ["Tell me about bibimbap, the Korean rice bowl", "What is pho?", "a Japanese dessert"]


def timed_ask(base: str, question: str) -> dict[str, float]:
    marks: dict[str, float] = {}
    started = time.perf_counter()
    with httpx.stream("POST", f"{base}/ask/stream", json={"question": question}, timeout=60) as r:
        for name, data in events(r.iter_lines()):
            marks.setdefault(name, time.perf_counter() - started)
            if name == "sources" and not data["sources"]:
                raise SystemExit(f"no source for {question!r}: the figures would mean nothing")
    return marks


def run(label: str, env: dict[str, str], asks: int) -> list[object]:
    with ragfood_serve(env) as base:
        runs = [timed_ask(base, QUESTIONS[n % len(QUESTIONS)]) for n in range(asks)]
    row: list[object] = [label]
    for event in ("sources", "token", "done"):
        times = [r[event] for r in runs if event in r]
        row += [f"{median(times):.2f}", f"{max(times):.2f}"] if times else ["-", "-"]
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--budget-s", type=float, default=6.0)
    parser.add_argument("--asks", type=int, default=5)
    args = parser.parse_args()
    foods = REPO / "data" / "foods.json"
    rows = []
    with VectorServer(embedder="hash") as server, GeneratorStub() as stub:
        env = {
            **os.environ,
            **server.client_env(),
            "GENERATOR_URL": stub.url,
            "RAGFOOD_ASK_BUDGET_S": str(args.budget_s),
            "RAGFOOD_CACHE_SIZE": "0",  # every ask retrieves and generates
            "POWERTOOLS_LOG_LEVEL": "ERROR",
        }
        subprocess.run([str(RAGFOOD), "ingest", str(foods)], env=env, check=True,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
        stub.state.word_delay_s = 0.05
        rows.append(run("words (50 ms each, finishes)", env, args.asks))
        stub.reset()
        stub.state.mode, stub.state.trickle_s = "trickle", 1.0
        rows.append(run("trickle (1 token/s, forever)", env, args.asks))
    print_table(
        f"POST /ask/stream on `ragfood serve`, budget {args.budget_s:g} s: seconds from the "
        "request to each event (spec for trickle: first token < 2.5, done < 8)",
        ["generator", "sources med", "max", "1st token med", "max", "done med", "max"],
        rows,
    )


if __name__ == "__main__":
    main()
