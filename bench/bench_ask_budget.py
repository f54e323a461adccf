"""Time to answer when the generator trickles forever, as a user of `ragfood serve` sees it.

    .venv/bin/python bench/bench_ask_budget.py [--budget-s 5] [--asks 3] [--trickle-s 1]

Issue 10's case: RAGFOOD_ASK_BUDGET_S=5 and a generator sending a token a second, never
finishing; the spec is an answer within 7 s, degraded, with sources. Everything is a real
process on loopback: the local vector service (hash embedder, data/foods.json), the stub
generator in trickle mode, and `ragfood serve`; each ask is a fresh HTTP POST /ask, timed by the
client from request to complete body.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import time

import httpx
from _common import REPO, median, print_table

from ragfood_vector.launcher import VectorServer
from tests.support.generator_stub import GeneratorStub
from tests.support.serve import RAGFOOD, ragfood_serve

QUESTIONS = ["Which dishes use saffron?", "Tell me about paella", "What is sushi made of?"]


def run(api: str, env: dict[str, str], asks: int) -> list[object]:
    with ragfood_serve({**env, "GENERATOR_API": api}) as base:
        times, degraded, sourced = [], 0, 0
        for n in range(asks):
            question = {"question": QUESTIONS[n % len(QUESTIONS)] + f" ({n})"}  # no cache hits
            started = time.perf_counter()
            answer = httpx.post(f"{base}/ask", json=question, timeout=120).json()
            times.append(time.perf_counter() - started)
            degraded += bool(answer.get("degraded"))
            sourced += bool(answer.get("sources"))
    return [
        api,
        f"{median(times):.2f}",
        f"{max(times):.2f}",
        f"{degraded}/{asks}",
        f"{sourced}/{asks}",
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--budget-s", type=float, default=5.0)
    parser.add_argument("--asks", type=int, default=3)
    parser.add_argument("--trickle-s", type=float, default=1.0)
    args = parser.parse_args()
    foods = REPO / "data" / "foods.json"
    with VectorServer(embedder="hash") as server, GeneratorStub() as stub:
        stub.state.mode, stub.state.trickle_s = "trickle", args.trickle_s
        env = {
            **os.environ,
            **server.client_env(),
            "GENERATOR_URL": stub.url,
            "RAGFOOD_ASK_BUDGET_S": str(args.budget_s),
            "RAGFOOD_MIN_SCORE": "0",  # this measures the budget, not refusals: always answer
            "POWERTOOLS_LOG_LEVEL": "ERROR",
        }
        subprocess.run([str(RAGFOOD), "ingest", str(foods)], env=env, check=True,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
        rows = [run(api, env, args.asks) for api in ("ollama", "openai")]
    print_table(
        f"POST /ask on `ragfood serve`, budget {args.budget_s:g} s, a token every "
        f"{args.trickle_s:g} s forever (spec: within budget + 2 s, degraded, with sources)",
        ["generator API", "median s", "max s", "degraded", "with sources"],
        rows,
    )


if __name__ == "__main__":
    main()
