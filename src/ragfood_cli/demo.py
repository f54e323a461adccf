"""`make demo`: the whole job on this machine, through the real handlers.

Starts the local vector service (real MiniLM embeddings) and a local S3 (moto's server), drops
data/foods.json into the bucket, runs the ingest function on the S3 event from events/, asks three
questions through the ask function with the API Gateway event from events/, prints the answers and
their sources, and stops everything it started.
"""

from __future__ import annotations

import contextlib
import io
import json
import logging
import os
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

from ragfood_cli.local_env import quiet_logs

REPO = Path(__file__).resolve().parents[2]
QUESTIONS = [
    ("Which Brazilian stew of black beans and pork is eaten on Saturdays?", {}),
    ("What cold soup made from raw tomatoes is eaten in summer?", {}),
    ("What is a good dessert to try in New Zealand?", {"type": "dessert"}),
]


def main() -> int:
    quiet_logs(verbose=False)
    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # moto's per-request access log
    import boto3
    from moto.server import ThreadedMotoServer

    from ragfood_cli.lambda_runner import LocalFunction
    from ragfood_cli.render import console, print_answer, print_report
    from ragfood_vector.launcher import VectorServer

    embedder = os.environ.get("RAGFOOD_DEMO_EMBEDDER", "minilm")
    s3_event = json.loads((REPO / "events" / "s3-put-foods.json").read_text())
    ask_event = json.loads((REPO / "events" / "api-ask.json").read_text())
    bucket = s3_event["Records"][0]["s3"]["bucket"]["name"]
    key = s3_event["Records"][0]["s3"]["object"]["key"]

    console.rule("[bold]RAGFood demo")
    console.print(
        f"starting the local vector service (hybrid: {embedder} + BM25) and a local S3 ..."
    )
    moto = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    with (
        tempfile.TemporaryDirectory(prefix="ragfood-demo-") as data_dir,
        # A hybrid index (dense + BM25), as we recommend creating the production one.
        VectorServer(
            embedder=embedder, data_dir=data_dir, sparse="bm25", startup_timeout=180
        ) as vectors,
    ):
        moto.start()
        try:
            host, port = moto.get_host_and_port()
            env = {
                **vectors.client_env(),
                "AWS_ENDPOINT_URL_S3": f"http://{host}:{port}",
                "AWS_ACCESS_KEY_ID": "demo",
                "AWS_SECRET_ACCESS_KEY": "demo",
                "AWS_DEFAULT_REGION": "us-east-1",
                "GENERATOR_URL": os.environ.get("GENERATOR_URL", ""),
            }
            env_file = REPO / "events" / "env.json"
            s3 = boto3.client(
                "s3",
                endpoint_url=env["AWS_ENDPOINT_URL_S3"],
                region_name="us-east-1",
                aws_access_key_id="demo",
                aws_secret_access_key="demo",
            )
            s3.create_bucket(Bucket=bucket)
            s3.put_object(Bucket=bucket, Key=key, Body=(REPO / "data" / "foods.json").read_bytes())
            console.print(f"uploaded data/foods.json to s3://{bucket}/{key}")

            console.rule("ingest function <- events/s3-put-foods.json")
            with _lambda_output_hidden():
                result = LocalFunction("ingest", env_file=env_file, env=env).invoke(s3_event)
            for report in result["reports"]:
                print_report(report)

            ask = LocalFunction("ask", env_file=env_file, env=env)
            for question, filters in QUESTIONS:
                console.rule("ask function <- events/api-ask.json")
                shown = question + (f"  {filters}" if filters else "")
                console.print(f"[bold cyan]Q:[/] {shown}", highlight=False)
                event = {**ask_event, "body": json.dumps({"question": question, **filters})}
                with _lambda_output_hidden():
                    response = ask.invoke(event)
                body = json.loads(response["body"])
                if response["statusCode"] != 200:
                    console.print(f"[red]HTTP {response['statusCode']}[/]: {body}")
                    return 1
                print_answer(body)
        finally:
            moto.stop()
    console.rule("[bold]done: every service the demo started has stopped")
    return 0


@contextlib.contextmanager
def _lambda_output_hidden() -> Iterator[None]:
    """The handlers print CloudWatch lines (logs, EMF metrics) to stdout; the demo renders the
    results instead, so that output goes nowhere."""
    with contextlib.redirect_stdout(io.StringIO()):
        yield


if __name__ == "__main__":
    sys.exit(main())
