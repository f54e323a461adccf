"""The SAM template: it validates, it builds, and it states the safeguards the design promises.

Static checks read infra/template.yaml with a YAML loader that understands CloudFormation's short
tags (!Ref, !Sub, ...). The SAM CLI checks need the separate SAM venv (`make sam-setup`); they fail,
rather than skip, when it is missing. `sam build` runs once per module (it needs PyPI, ~1 min);
every assertion about the built artefacts reuses that build.
"""

from __future__ import annotations

import json
import re
import subprocess
import tomllib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
TEMPLATE = REPO / "infra" / "template.yaml"
SAMCONFIG = REPO / "samconfig.toml"
EVENTS = REPO / "events"
SAM = REPO / ".venv-sam" / "bin" / "sam"
FUNCTIONS = ("IngestFunction", "AskFunction")
PUBLIC_ROUTES = [("/health", "get"), ("/docs", "get"), ("/openapi.json", "get")]
SECRET_LIKE = re.compile(r"[A-Za-z0-9]{20,}")
BUILD_TIMEOUT_S = 900


# ------------------------------------------------------------------ reading the template


class _CloudFormationLoader(yaml.SafeLoader):
    """SafeLoader that turns `!Ref X` into {"Ref": X}, `!Sub s` into {"Fn::Sub": s}, and so on."""


def _construct_tag(loader: yaml.SafeLoader, suffix: str, node: yaml.Node) -> dict[str, Any]:
    if isinstance(node, yaml.ScalarNode):
        value: Any = loader.construct_scalar(node)
        if suffix == "GetAtt":
            value = value.split(".", 1)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        value = loader.construct_mapping(node, deep=True)  # type: ignore[arg-type]
    return {"Ref" if suffix == "Ref" else f"Fn::{suffix}": value}


_CloudFormationLoader.add_multi_constructor("!", _construct_tag)


def load_template(path: Path = TEMPLATE) -> dict[str, Any]:
    return yaml.load(path.read_text(), Loader=_CloudFormationLoader)  # a SafeLoader subclass


@pytest.fixture(scope="module")
def template() -> dict[str, Any]:
    return load_template()


def resources_of_type(template: dict[str, Any], kind: str) -> dict[str, dict[str, Any]]:
    return {name: r for name, r in template["Resources"].items() if r["Type"] == kind}


def function_env(template: dict[str, Any], name: str) -> dict[str, Any]:
    """The function's environment as deployed: Globals merged with its own variables."""
    merged = dict(template["Globals"]["Function"]["Environment"]["Variables"])
    props = template["Resources"][name]["Properties"]
    merged.update(props.get("Environment", {}).get("Variables", {}))
    return merged


def function_property(template: dict[str, Any], name: str, key: str) -> Any:
    props = template["Resources"][name]["Properties"]
    return props[key] if key in props else template["Globals"]["Function"].get(key)


def unwrap_if(value: Any) -> Iterator[Any]:
    """Both branches of an Fn::If (minus AWS::NoValue), or the value itself."""
    if isinstance(value, dict) and "Fn::If" in value:
        for branch in value["Fn::If"][1:]:
            if branch != {"Ref": "AWS::NoValue"}:
                yield from unwrap_if(branch)
    else:
        yield value


def all_statements(node: Any) -> Iterator[dict[str, Any]]:
    """Every policy statement anywhere under `node` (roles, function policies, bucket policies)."""
    if isinstance(node, dict):
        if "Statement" in node:
            statements = node["Statement"]
            for item in statements if isinstance(statements, list) else [statements]:
                yield from unwrap_if(item)
        for value in node.values():
            yield from all_statements(value)
    elif isinstance(node, list):
        for value in node:
            yield from all_statements(value)


def function_statements(template: dict[str, Any], name: str) -> list[dict[str, Any]]:
    return list(all_statements(template["Resources"][name]["Properties"].get("Policies", [])))


def as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def sub_text(value: Any) -> str:
    """The format string of an Fn::Sub (short or long form)."""
    sub = value["Fn::Sub"]
    return sub[0] if isinstance(sub, list) else sub


# ------------------------------------------------------------------ the bucket


def test_bucket_encrypts_objects_at_rest(template):
    bucket = template["Resources"]["KnowledgeBucket"]["Properties"]
    rules = bucket["BucketEncryption"]["ServerSideEncryptionConfiguration"]
    assert rules[0]["ServerSideEncryptionByDefault"]["SSEAlgorithm"] == "AES256"


def test_bucket_blocks_all_public_access(template):
    block = template["Resources"]["KnowledgeBucket"]["Properties"]["PublicAccessBlockConfiguration"]
    assert block == {
        "BlockPublicAcls": True,
        "BlockPublicPolicy": True,
        "IgnorePublicAcls": True,
        "RestrictPublicBuckets": True,
    }


def test_bucket_keeps_versions_so_overwritten_uploads_can_be_recovered(template):
    bucket = template["Resources"]["KnowledgeBucket"]["Properties"]
    assert bucket["VersioningConfiguration"]["Status"] == "Enabled"
    expiries = [
        rule["NoncurrentVersionExpiration"]["NoncurrentDays"]
        for rule in bucket["LifecycleConfiguration"]["Rules"]
        if rule["Status"] == "Enabled" and "NoncurrentVersionExpiration" in rule
    ]
    assert expiries and min(expiries) >= 30, "old versions must be kept long enough to recover"


def test_bucket_disables_acls(template):
    rules = template["Resources"]["KnowledgeBucket"]["Properties"]["OwnershipControls"]["Rules"]
    assert rules == [{"ObjectOwnership": "BucketOwnerEnforced"}]


def test_bucket_policy_denies_requests_without_tls(template):
    (policy,) = resources_of_type(template, "AWS::S3::BucketPolicy").values()
    assert policy["Properties"]["Bucket"] == {"Ref": "KnowledgeBucket"}
    denies = [
        s
        for s in all_statements(policy)
        if s["Effect"] == "Deny"
        and s.get("Condition", {}).get("Bool", {}).get("aws:SecureTransport") in ("false", False)
    ]
    assert denies, "no statement denies aws:SecureTransport=false"


def test_policies_compute_the_bucket_name_exactly_as_the_bucket_does(template):
    """ARNs are built from the name, not !Ref'd, to avoid the bucket/notification/role cycle."""
    bucket = template["Resources"]["KnowledgeBucket"]["Properties"]
    name, variables = bucket["BucketName"]["Fn::Sub"]
    literal = re.sub(r"\$\{[^}]+\}", "", name)
    assert literal == literal.lower(), "bucket names must be lower case"
    arns = [
        s["Resource"]
        for s in function_statements(template, "IngestFunction")
        if any(action.startswith("s3:") for action in as_list(s["Action"]))
    ]
    assert arns, "the ingest function has no S3 statements"
    for arn in arns:
        text, arn_variables = arn["Fn::Sub"]
        assert text == f"arn:${{AWS::Partition}}:s3:::{name}" or text.startswith(
            f"arn:${{AWS::Partition}}:s3:::{name}/"
        )
        assert arn_variables == variables


# ------------------------------------------------------------------ ingest


def test_ingest_is_triggered_only_by_json_files_under_uploads(template):
    events = template["Resources"]["IngestFunction"]["Properties"]["Events"]
    (event,) = events.values()
    assert event["Type"] == "S3"
    assert event["Properties"]["Bucket"] == {"Ref": "KnowledgeBucket"}
    assert event["Properties"]["Events"] == ["s3:ObjectCreated:*", "s3:ObjectRemoved:*"]
    rules = {r["Name"]: r["Value"] for r in event["Properties"]["Filter"]["S3Key"]["Rules"]}
    assert rules == {"prefix": "uploads/", "suffix": ".json"}, "reports/ must never retrigger it"


def test_ingest_reads_uploads_writes_reports_and_keeps_its_sync_state(template):
    grants: dict[str, set[str]] = {}
    for statement in function_statements(template, "IngestFunction"):
        for action in as_list(statement["Action"]):
            if action.startswith("s3:"):
                arn = sub_text(statement["Resource"])
                grants.setdefault(action, set()).add(arn[arn.index("}", arn.index("Suffix")) + 1 :])
    assert grants == {
        "s3:GetObject": {"/uploads/*", "/sync-state/*"},
        "s3:GetObjectVersion": {"/uploads/*"},
        "s3:PutObject": {"/reports/*", "/sync-state/*"},
        "s3:DeleteObject": {"/sync-state/*"},  # never an upload
        "s3:ListBucket": {""},  # the bucket itself
    }


def test_ingest_failures_go_to_an_encrypted_queue_after_two_retries(template):
    config = template["Resources"]["IngestFunction"]["Properties"]["EventInvokeConfig"]
    assert config["MaximumRetryAttempts"] == 2
    on_failure = config["DestinationConfig"]["OnFailure"]
    assert on_failure["Type"] == "SQS"
    assert on_failure["Destination"] == {"Fn::GetAtt": ["IngestFailureQueue", "Arn"]}
    queue = template["Resources"]["IngestFailureQueue"]["Properties"]
    assert queue["SqsManagedSseEnabled"] is True
    assert queue["MessageRetentionPeriod"] == 14 * 24 * 3600


def test_an_alarm_fires_when_the_failure_queue_has_messages(template):
    alarms = resources_of_type(template, "AWS::CloudWatch::Alarm").values()
    watching = [
        a["Properties"]
        for a in alarms
        if a["Properties"]["MetricName"] == "ApproximateNumberOfMessagesVisible"
        and {"Fn::GetAtt": ["IngestFailureQueue", "QueueName"]}
        in [d["Value"] for d in a["Properties"]["Dimensions"]]
    ]
    assert len(watching) == 1
    (alarm,) = watching
    assert alarm["Threshold"] == 0
    assert alarm["ComparisonOperator"] == "GreaterThanThreshold"


def test_alarm_notifications_are_subscribed_only_when_an_email_is_given(template):
    topics = resources_of_type(template, "AWS::SNS::Topic")
    assert topics and all(t.get("Condition") == "HasAlarmEmail" for t in topics.values())
    alarm = template["Resources"]["IngestFailureAlarm"]["Properties"]
    assert alarm["AlarmActions"]["Fn::If"][0] == "HasAlarmEmail"


def test_ingest_refuses_to_delete_more_than_half_of_a_namespace(template):
    env = function_env(template, "IngestFunction")
    assert env["RAGFOOD_MAX_DELETE_FRACTION"] == {"Ref": "MaxDeleteFraction"}
    parameter = template["Parameters"]["MaxDeleteFraction"]
    assert (parameter["Default"], parameter["MinValue"], parameter["MaxValue"]) == (0.5, 0, 1)


# ------------------------------------------------------------------ the API


def _api_events(template: dict[str, Any]) -> dict[tuple[str, str], dict[str, Any]]:
    events = template["Resources"]["AskFunction"]["Properties"]["Events"]
    return {
        (e["Properties"]["Path"], e["Properties"]["Method"].lower()): e
        for e in events.values()
        if e["Type"] == "Api"
    }


def _requires_key(template: dict[str, Any], event: dict[str, Any]) -> bool:
    api_name = event["Properties"]["RestApiId"]["Ref"]
    default = template["Resources"][api_name]["Properties"]["Auth"]["ApiKeyRequired"]
    return event["Properties"].get("Auth", {}).get("ApiKeyRequired", default)


def test_ask_requires_an_api_key(template):
    assert _requires_key(template, _api_events(template)[("/ask", "post")])


@pytest.mark.parametrize(("path", "method"), PUBLIC_ROUTES)
def test_health_and_docs_routes_need_no_api_key(template, path, method):
    assert not _requires_key(template, _api_events(template)[(path, method)])


def test_api_is_a_rest_api_on_stage_v1_with_tracing(template):
    (api,) = resources_of_type(template, "AWS::Serverless::Api").values()
    assert api["Properties"]["StageName"] == "v1"
    assert api["Properties"]["TracingEnabled"] is True


def test_usage_plan_throttles_and_sets_a_daily_quota(template):
    plan = template["Resources"]["Api"]["Properties"]["Auth"]["UsagePlan"]
    assert plan["CreateUsagePlan"] == "PER_API"
    assert plan["Throttle"] == {
        "RateLimit": {"Ref": "ApiThrottleRate"},
        "BurstLimit": {"Ref": "ApiThrottleBurst"},
    }
    assert plan["Quota"] == {"Limit": {"Ref": "ApiQuotaPerDay"}, "Period": "DAY"}


def test_stage_throttles_every_route_without_logging_bodies(template):
    (settings,) = template["Resources"]["Api"]["Properties"]["MethodSettings"]
    assert (settings["ResourcePath"], settings["HttpMethod"]) == ("/*", "*")
    assert "ThrottlingRateLimit" in settings and "ThrottlingBurstLimit" in settings
    assert settings["DataTraceEnabled"] is False


def test_generator_times_out_before_the_function_does(template):
    timeout = function_property(template, "AskFunction", "Timeout")
    assert timeout <= 29, "API Gateway gives up after 29 s"
    assert float(function_env(template, "AskFunction")["GENERATOR_TIMEOUT_S"]) < timeout


def test_the_ask_budget_ends_before_the_function_and_api_gateway_give_up(template):
    timeout = function_property(template, "AskFunction", "Timeout")
    budget = float(function_env(template, "AskFunction")["RAGFOOD_ASK_BUDGET_S"])
    # Cold-start init (~2-3 s) is outside the function's timer but inside API Gateway's 29 s.
    assert budget + 3 <= 29 and budget < timeout


def test_generator_key_parameter_is_passed_only_when_given(template):
    value = function_env(template, "AskFunction")["GENERATOR_API_KEY_PARAM"]
    assert value == {
        "Fn::If": [
            "HasGeneratorApiKey",
            {"Ref": "GeneratorApiKeyParameter"},
            {"Ref": "AWS::NoValue"},
        ]
    }


# ------------------------------------------------------------------ both functions


@pytest.mark.parametrize("name", FUNCTIONS)
def test_function_runs_python311_on_arm64_with_the_core_layer(template, name):
    assert function_property(template, name, "Runtime") == "python3.11"
    assert function_property(template, name, "Architectures") == ["arm64"]
    assert function_property(template, name, "Layers") == [{"Ref": "CoreLayer"}]
    assert function_property(template, name, "Handler") == "app.handler"
    assert function_property(template, name, "Tracing") == "Active"


def test_core_layer_is_built_for_python311_on_arm64(template):
    layer = template["Resources"]["CoreLayer"]
    assert layer["Properties"]["ContentUri"] == "../shared/"
    assert layer["Properties"]["CompatibleRuntimes"] == ["python3.11"]
    assert layer["Properties"]["CompatibleArchitectures"] == ["arm64"]
    # makefile: infra/lambda-build.mk (pip for arm64 + bytecode); tests/infra/test_artifacts.py
    assert layer["Metadata"] == {"BuildMethod": "makefile", "BuildArchitecture": "arm64"}


@pytest.mark.parametrize(
    ("name", "variable", "parameter"),
    [
        ("IngestFunction", "UPSTASH_VECTOR_REST_TOKEN_PARAM", "UpstashTokenParameter"),
        (
            "AskFunction",
            "UPSTASH_VECTOR_REST_READONLY_TOKEN_PARAM",
            "UpstashReadOnlyTokenParameter",
        ),
    ],
)
def test_function_may_read_only_its_own_token_parameter(template, name, variable, parameter):
    assert function_env(template, name)[variable] == {"Ref": parameter}
    ssm = [s for s in function_statements(template, name) if "ssm" in str(s["Action"])]
    token_grants = [s for s in ssm if f"${{{parameter}}}" in sub_text(s["Resource"])]
    assert [s["Action"] for s in token_grants] == ["ssm:GetParameter"]
    (other,) = {"UpstashTokenParameter", "UpstashReadOnlyTokenParameter"} - {parameter}
    assert not any(f"${{{other}}}" in sub_text(s["Resource"]) for s in ssm)


def test_parameter_arns_match_names_with_a_leading_slash(template):
    """SSM ARNs are `...:parameter` + name for '/a/b'; the names must therefore start with '/'."""
    for name in ("UpstashTokenParameter", "UpstashReadOnlyTokenParameter"):
        parameter = template["Parameters"][name]
        pattern = re.compile(parameter["AllowedPattern"])
        assert pattern.fullmatch(parameter["Default"])
        assert not pattern.fullmatch(parameter["Default"].lstrip("/"))
    arns = [
        sub_text(s["Resource"])
        for name in FUNCTIONS
        for s in function_statements(template, name)
        if "ssm:GetParameter" in as_list(s["Action"])
    ]
    assert arns and all(":parameter${" in arn for arn in arns)


# ------------------------------------------------------------------ least privilege, no secrets


def test_no_iam_statement_grants_every_resource(template):
    statements = list(all_statements(template["Resources"]))
    assert statements
    wildcard = [s for s in statements if "*" in as_list(s.get("Resource"))]
    assert not wildcard, f"statements with Resource '*': {wildcard}"


@pytest.mark.parametrize("name", FUNCTIONS)
def test_function_policies_are_inline_statements_only(template, name):
    """SAM policy templates and managed policies can carry Resource '*' (e.g. ssm:Describe*)."""
    policies = template["Resources"][name]["Properties"]["Policies"]
    assert all(isinstance(p, dict) and set(p) <= {"Version", "Statement"} for p in policies)


def test_parameter_defaults_hold_no_secrets(template):
    for name, parameter in template["Parameters"].items():
        default = str(parameter.get("Default", ""))
        assert not SECRET_LIKE.search(default), f"{name}'s default looks like a secret"
        if re.search(r"token|key|secret", name, re.IGNORECASE) and default:
            assert default.startswith("/"), f"{name} must name an SSM parameter, not hold a value"


@pytest.mark.parametrize("name", FUNCTIONS)
def test_secret_environment_variables_are_left_empty(template, name):
    """Token variables exist only as local `--env-vars` slots; deployed code reads SSM."""
    for variable, value in function_env(template, name).items():
        if re.search(r"TOKEN|API_KEY|SECRET", variable) and not variable.endswith("_PARAM"):
            assert value == "", f"{name}: {variable} must stay empty in the template"


def test_samconfig_holds_no_secrets_and_builds_the_infra_template():
    config = tomllib.loads(SAMCONFIG.read_text())
    default = config["default"]
    assert default["global"]["parameters"]["stack_name"] == "ragfood"
    build = default["build"]["parameters"]
    assert (REPO / build["template_file"]).resolve() == TEMPLATE
    # deploy must use the built template (.aws-sam/build), so it is never pointed at the source
    assert "template_file" not in default["deploy"]["parameters"]
    assert default["deploy"]["parameters"]["capabilities"] == "CAPABILITY_IAM"
    assert not SECRET_LIKE.search(SAMCONFIG.read_text().replace("CAPABILITY_IAM", ""))


# ------------------------------------------------------------------ outputs and sample events


def test_outputs_tell_a_user_where_to_call_and_upload(template):
    outputs = template["Outputs"]
    assert {"ApiUrl", "ApiKeyId", "BucketName", "UploadPrefix", "IngestFailureQueueUrl"} <= set(
        outputs
    )
    assert sub_text(outputs["ApiUrl"]["Value"]).endswith(".amazonaws.com/v1")
    assert outputs["UploadPrefix"]["Value"] == "uploads/"


@pytest.mark.parametrize("path", sorted(EVENTS.glob("*.json")), ids=lambda p: p.name)
def test_sample_event_is_valid_json(path):
    json.loads(path.read_text())


def test_local_env_overrides_name_variables_the_template_declares(template):
    """`sam local invoke --env-vars` silently ignores variables a function does not declare."""
    path = EVENTS / "env.json"
    if not path.exists():
        pytest.skip("events/env.json does not exist")
    for name, variables in json.loads(path.read_text()).items():
        if name == "Parameters":  # env.json's section applying to every function
            continue
        assert name in template["Resources"], f"env.json names unknown function {name}"
        undeclared = set(variables) - set(function_env(template, name))
        assert not undeclared, f"{name}: declare {sorted(undeclared)} in the template"


# ------------------------------------------------------------------ the SAM CLI


@pytest.mark.sam
def test_sam_validate_lint_passes(sam_cli, sam_env):
    result = subprocess.run(
        [str(sam_cli), "validate", "--lint", "--template-file", str(TEMPLATE)],
        cwd=REPO,
        env=sam_env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def _size_mb(path: Path) -> float:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file()) / 1e6


def _top_level_names(path: Path) -> set[str]:
    return {child.name for child in path.iterdir()}


def _distributions(site: Path) -> dict[str, str]:
    found = {}
    for info in site.glob("*.dist-info"):
        name, _, version = info.name.removesuffix(".dist-info").rpartition("-")
        found[name.lower().replace("-", "_")] = version
    return found


@pytest.mark.sam
@pytest.mark.timeout(BUILD_TIMEOUT_S + 60)
def test_sam_build_succeeds(sam_build, capsys):
    assert sam_build.returncode == 0, sam_build.output[-5000:]
    layer_mb = _size_mb(sam_build.artefact("CoreLayer"))
    with capsys.disabled():
        print(
            f"\n[sam build] {sam_build.seconds:.0f} s; CoreLayer unzipped {layer_mb:.1f} MB; "
            f"AskFunction {_size_mb(sam_build.artefact('AskFunction')):.1f} MB; "
            f"IngestFunction {_size_mb(sam_build.artefact('IngestFunction')):.2f} MB"
        )
    assert layer_mb < 200, "a Lambda layer plus function must stay under 250 MB unzipped"


@pytest.mark.sam
@pytest.mark.timeout(BUILD_TIMEOUT_S + 60)
def test_built_layer_contains_the_core_and_the_upstash_sdk(sam_build):
    site = sam_build.artefact("CoreLayer") / "python"
    assert (site / "ragfood" / "pipeline.py").is_file()
    assert (site / "upstash_vector").is_dir()


@pytest.mark.sam
@pytest.mark.timeout(BUILD_TIMEOUT_S + 60)
def test_built_ask_function_bundles_fastapi_and_mangum_but_not_the_core(sam_build):
    names = _top_level_names(sam_build.artefact("AskFunction"))
    assert {"app.py", "fastapi", "mangum"} <= names
    assert "ragfood" not in names, "the core must come only from the layer"


@pytest.mark.sam
@pytest.mark.timeout(BUILD_TIMEOUT_S + 60)
def test_built_ingest_function_is_just_its_handler(sam_build):
    names = _top_level_names(sam_build.artefact("IngestFunction"))
    assert "app.py" in names
    assert names <= {"app.py", "__pycache__"}


@pytest.mark.sam
@pytest.mark.timeout(BUILD_TIMEOUT_S + 60)
@pytest.mark.parametrize("artefact", ["CoreLayer/python", "AskFunction", "IngestFunction"])
def test_built_artefact_holds_no_dev_service_and_no_ml_framework(sam_build, artefact):
    names = _top_level_names(sam_build.artefact(artefact))
    forbidden = {"ragfood_vector", "ragfood_cli", "torch", "sentence_transformers", "transformers"}
    assert not names & forbidden


@pytest.mark.sam
@pytest.mark.timeout(BUILD_TIMEOUT_S + 60)
def test_packages_in_both_ask_function_and_layer_have_the_same_version(sam_build):
    """The function's copy shadows the layer's (/var/task precedes /opt/python): keep them equal."""
    function = _distributions(sam_build.artefact("AskFunction"))
    layer = _distributions(sam_build.artefact("CoreLayer") / "python")
    mismatched = {n: (function[n], layer[n]) for n in function.keys() & layer.keys()}
    mismatched = {n: v for n, v in mismatched.items() if v[0] != v[1]}
    assert not mismatched, f"function vs layer versions differ: {mismatched}"
