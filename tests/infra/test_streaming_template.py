"""The streaming function, the sessions table and the page route in the SAM template.

AskStreamFunction must be AskFunction served differently (same code, same settings, same rights,
plus Lambda Web Adapter), and its route must really stream once SAM has transformed it: the pinned
SAM translator accepts `ResponseTransferMode: STREAM` and then silently buffers, so the test reads
the transformed template, not only ours.
"""

from __future__ import annotations

import json
import os
import subprocess
from typing import Any

import pytest

from ragfood.sessions import TTL_ATTRIBUTE
from tests.infra.test_template import (
    REPO,
    SAM,
    TEMPLATE,
    as_list,
    function_env,
    function_property,
    function_statements,
    load_template,
    resources_of_type,
    sub_text,
)

ADAPTER_ENV = {
    "AWS_LAMBDA_EXEC_WRAPPER": "/opt/bootstrap",
    "AWS_LWA_INVOKE_MODE": "response_stream",
    "AWS_LWA_PORT": "8080",
    "AWS_LWA_READINESS_CHECK_PATH": "/health",
}
ASK_FUNCTIONS = ("AskFunction", "AskStreamFunction")


@pytest.fixture(scope="module")
def template() -> dict[str, Any]:
    return load_template()


def _events(template: dict[str, Any], name: str) -> dict[tuple[str, str], dict[str, Any]]:
    events = template["Resources"][name]["Properties"]["Events"]
    return {
        (e["Properties"]["Path"], e["Properties"]["Method"].lower()): e["Properties"]
        for e in events.values()
        if e["Type"] == "Api"
    }


def test_stream_function_serves_the_ask_app_through_lambda_web_adapter(template):
    stream = template["Resources"]["AskStreamFunction"]["Properties"]
    ask = template["Resources"]["AskFunction"]["Properties"]
    assert stream["CodeUri"] == ask["CodeUri"] == "../functions/ask/"
    assert stream["Handler"] == "run.sh"
    env = function_env(template, "AskStreamFunction")
    assert {k: env.get(k) for k in ADAPTER_ENV} == ADAPTER_ENV
    layers = stream["Layers"]
    assert layers[0] == {"Ref": "CoreLayer"}
    (adapter,) = layers[1:]
    arn = sub_text(adapter)
    assert ":753240598075:layer:LambdaAdapterLayerArm64:${WebAdapterLayerVersion}" in arn
    assert function_property(template, "AskStreamFunction", "Architectures") == ["arm64"]


def test_run_script_starts_uvicorn_on_the_same_app_module_and_port():
    script = REPO / "functions" / "ask" / "run.sh"
    assert os.access(script, os.X_OK), "Lambda runs the handler script: it must be executable"
    text = script.read_text()
    assert text.startswith("#!/bin/bash")
    assert "exec python -m uvicorn app:app" in text
    assert "AWS_LWA_PORT" in text and "/opt/python" in text


def test_both_ask_functions_have_the_same_settings_and_rights(template):
    ask = function_env(template, "AskFunction")
    stream = function_env(template, "AskStreamFunction")
    differing = {k for k in ask.keys() | stream.keys() if ask.get(k) != stream.get(k)}
    assert differing == set(ADAPTER_ENV) | {"POWERTOOLS_SERVICE_NAME"}
    assert function_statements(template, "AskFunction") == function_statements(
        template, "AskStreamFunction"
    )


def test_stream_route_streams_and_requires_the_api_key(template):
    (route,) = _events(template, "AskStreamFunction").values()
    assert (route["Path"], route["Method"]) == ("/ask/stream", "post")
    assert route["ResponseTransferMode"] == "RESPONSE_STREAM"
    assert route["Auth"]["ApiKeyRequired"] is True
    assert route["RestApiId"] == {"Ref": "Api"}
    buffered = _events(template, "AskFunction")[("/ask", "post")]
    assert "ResponseTransferMode" not in buffered, "/ask stays buffered, on Mangum"


def test_page_route_is_public(template):
    page = _events(template, "AskFunction")[("/", "get")]
    assert page["Auth"]["ApiKeyRequired"] is False


def test_sessions_table_expires_items_and_only_the_ask_functions_use_it(template):
    table = template["Resources"]["SessionsTable"]["Properties"]
    assert table["TimeToLiveSpecification"] == {"AttributeName": TTL_ATTRIBUTE, "Enabled": True}
    assert table["KeySchema"] == [{"AttributeName": "session_id", "KeyType": "HASH"}]
    assert table["BillingMode"] == "PAY_PER_REQUEST"
    for name in resources_of_type(template, "AWS::Serverless::Function"):
        dynamo = [
            s
            for s in function_statements(template, name)
            if any(a.startswith("dynamodb:") for a in as_list(s["Action"]))
        ]
        if name not in ASK_FUNCTIONS:
            assert not dynamo, f"{name} must not reach the sessions table"
            continue
        assert function_env(template, name)["RAGFOOD_SESSIONS_TABLE"] == {"Ref": "SessionsTable"}
        (statement,) = dynamo
        assert sorted(as_list(statement["Action"])) == ["dynamodb:GetItem", "dynamodb:PutItem"]
        assert statement["Resource"] == {"Fn::GetAtt": ["SessionsTable", "Arn"]}


TRANSLATE = """
import json, sys
from samtranslator.translator.transform import transform
from samtranslator.yaml_helper import yaml_parse

class ManagedPolicies:
    def load(self):
        names = ["AWSLambdaBasicExecutionRole", "AWSXrayWriteOnlyAccess"]
        names += ["AWSXRayDaemonWriteAccess"]
        return {n: "arn:aws:iam::aws:policy/" + n for n in names}

template = yaml_parse(open(sys.argv[1]).read())
for resource in template["Resources"].values():  # as `sam validate` does with local folders
    for key in ("CodeUri", "ContentUri"):
        if key in resource.get("Properties", {}):
            resource["Properties"][key] = "s3://bucket/key"
parameters = {"UpstashVectorUrl": "https://example-vector.upstash.io"}
print(json.dumps(transform(template, parameters, ManagedPolicies()), default=str))
"""


@pytest.fixture(scope="module")
def transformed() -> dict[str, Any]:
    """The template as CloudFormation receives it, from the pinned SAM CLI's own translator."""
    python = SAM.parent / "python"
    if not python.exists():
        pytest.fail("SAM CLI not found: run `make sam-setup`", pytrace=False)
    env = {**os.environ, "AWS_DEFAULT_REGION": "us-east-1", "SAM_CLI_TELEMETRY": "0"}
    result = subprocess.run(
        [str(python), "-c", TRANSLATE, str(TEMPLATE)],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads(result.stdout)


def _integration(transformed: dict[str, Any], path: str, method: str) -> dict[str, Any]:
    body = transformed["Resources"]["Api"]["Properties"]["Body"]
    return body["paths"][path][method]["x-amazon-apigateway-integration"]


@pytest.mark.sam
def test_transformed_stream_route_invokes_with_response_streaming(transformed):
    integration = _integration(transformed, "/ask/stream", "post")
    assert integration["responseTransferMode"] == "STREAM"
    uri = sub_text(integration["uri"])
    assert uri.endswith("/functions/${AskStreamFunction.Arn}/response-streaming-invocations")
    assert "/2021-11-15/" in uri


@pytest.mark.sam
def test_transformed_ask_route_stays_buffered_on_the_mangum_function(transformed):
    integration = _integration(transformed, "/ask", "post")
    assert "responseTransferMode" not in integration
    assert sub_text(integration["uri"]).endswith("/functions/${AskFunction.Arn}/invocations")


@pytest.mark.sam
@pytest.mark.timeout(1000)
def test_built_stream_function_is_the_ask_function_plus_uvicorn(sam_build):
    stream = sam_build.artefact("AskStreamFunction")
    ask = sam_build.artefact("AskFunction")
    run = stream / "run.sh"
    assert run.is_file() and os.stat(run).st_mode & 0o111, "run.sh must stay executable"
    for part in ("app.py", "askapi/routes/stream.py", "askapi/page/index.html"):
        assert (stream / part).read_bytes() == (ask / part).read_bytes(), part
    names = {p.name for p in stream.iterdir()}
    assert {"uvicorn", "click", "fastapi", "mangum"} <= names
    assert "uvicorn" not in {p.name for p in ask.iterdir()}, "the Mangum function needs no server"
