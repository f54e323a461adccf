"""End to end, as a user drives it: data/foods.json into S3, the ingest function on the S3 event,
the ask function on the API Gateway event, all with the files in events/ (env.json included)."""

from __future__ import annotations

import json
from pathlib import Path

import boto3
import pytest
from upstash_vector import Index

from ragfood.errors import ConfigError
from ragfood_cli.lambda_runner import LocalFunction
from tests.functions.conftest import BUCKET, EVENTS, load_event

DATA = Path(__file__).resolve().parents[2] / "data" / "foods.json"


def local_env(function_env: dict[str, str]) -> dict[str, str]:
    # events/env.json points at host.docker.internal:8787/5000; the test services run elsewhere.
    keep = ("UPSTASH_VECTOR_REST_URL", "AWS_ENDPOINT_URL_S3", "UPSTASH_VECTOR_REST_TOKEN")
    return {key: function_env[key] for key in keep}


def test_the_data_set_is_ingested_from_s3_and_answers_questions_with_sources(
    s3, clean_index: Index, function_env
):
    s3.put_object(Bucket=BUCKET, Key="uploads/foods.json", Body=DATA.read_bytes())
    env = local_env(function_env)
    ingest = LocalFunction("ingest", env_file=EVENTS / "env.json", env=env)
    (report,) = ingest.invoke(load_event("s3-put-foods.json"))["reports"]
    items = len(json.loads(DATA.read_text()))
    assert (report["status"], report["upserted"], report["items"]) == ("ok", items, items)

    ask = LocalFunction(
        "ask",
        env_file=EVENTS / "env.json",
        env={
            **env,
            "UPSTASH_VECTOR_REST_READONLY_TOKEN": function_env[
                "UPSTASH_VECTOR_REST_READONLY_TOKEN"
            ],
            "RAGFOOD_MIN_SCORE": "0.5",
        },
    )
    response = ask.invoke(load_event("api-ask.json"))
    answer = json.loads(response["body"])
    assert response["statusCode"] == 200
    assert "pho" in [s["id"] for s in answer["sources"]]
    assert answer["generator"]["kind"] == "extractive"  # env.json configures no generator


def test_env_file_addresses_are_rewritten_for_this_machine():
    local = LocalFunction("ask", env_file=EVENTS / "env.json")
    assert local.env["UPSTASH_VECTOR_REST_URL"] == "http://127.0.0.1:8787"
    assert local.env["UPSTASH_VECTOR_REST_READONLY_TOKEN"] == "local-dev-readonly-token"


def test_tenant_uploads_land_in_their_own_namespaces_and_answer_only_their_tenant(
    s3, clean_index: Index, function
):
    s3.put_object(Bucket=BUCKET, Key="uploads/tenants/acme/foods.json", Body=DATA.read_bytes())
    s3.put_object(
        Bucket=BUCKET,
        Key="uploads/tenants/globex/my foods (2).json",
        Body=json.dumps([{"id": "globex-secret", "text": "Globex pho is a secret soup."}]),
    )
    function("ingest").invoke(load_event("s3-put-tenants.json"))
    question = {**load_event("api-ask.json"), "body": json.dumps({"question": "secret pho soup"})}
    acme = json.loads(function("ask", RAGFOOD_NAMESPACE="acme").invoke(question)["body"])
    globex = json.loads(function("ask", RAGFOOD_NAMESPACE="globex").invoke(question)["body"])
    assert "globex-secret" not in [s["id"] for s in acme["sources"]]
    assert [s["id"] for s in globex["sources"]] == ["globex-secret"]


def test_tokens_can_come_from_ssm_secure_strings(
    s3, clean_index: Index, function, function_env, moto_endpoint
):
    ssm = boto3.client("ssm", endpoint_url=moto_endpoint, region_name="us-east-1")
    ssm.put_parameter(
        Name="/ragfood/test/token",
        Value=function_env["UPSTASH_VECTOR_REST_TOKEN"],
        Type="SecureString",
        Overwrite=True,
    )
    s3.put_object(Bucket=BUCKET, Key="uploads/foods.json", Body=DATA.read_bytes())
    ingest = function(
        "ingest",
        UPSTASH_VECTOR_REST_TOKEN="",  # only the parameter name is given, as in the template
        UPSTASH_VECTOR_REST_TOKEN_PARAM="/ragfood/test/token",
        AWS_ENDPOINT_URL_SSM=moto_endpoint,
    )
    (report,) = ingest.invoke(load_event("s3-put-foods.json"))["reports"]
    assert report["status"] == "ok"


def test_an_unreadable_ssm_parameter_is_named(s3, function, moto_endpoint):
    ingest = function(
        "ingest",
        UPSTASH_VECTOR_REST_TOKEN="",
        UPSTASH_VECTOR_REST_TOKEN_PARAM="/ragfood/test/missing",
        AWS_ENDPOINT_URL_SSM=moto_endpoint,
    )
    with pytest.raises(ConfigError, match="cannot read SSM parameter '/ragfood/test/missing'"):
        ingest.invoke(load_event("s3-put-foods.json"))
