"""The deployed ask path builds ONE boto3 session for its AWS clients (SSM token, DynamoDB
sessions): each session loads botocore's data again, ~45 ms of the first invocation."""

from __future__ import annotations

import boto3
import pytest

from ragfood import services


def test_ssm_parameters_and_dynamodb_share_one_boto3_session(moto_endpoint, monkeypatch):
    monkeypatch.setenv("AWS_ENDPOINT_URL_SSM", moto_endpoint)
    monkeypatch.setenv("AWS_ENDPOINT_URL_DYNAMODB", moto_endpoint)
    ssm = boto3.client("ssm", region_name="us-east-1")
    ssm.put_parameter(Name="/bench/ro", Value="ro-token", Type="SecureString", Overwrite=True)
    dynamodb = boto3.client("dynamodb", region_name="us-east-1")
    if "sessions-one" not in dynamodb.list_tables()["TableNames"]:
        dynamodb.create_table(
            TableName="sessions-one",
            AttributeDefinitions=[{"AttributeName": "session_id", "AttributeType": "S"}],
            KeySchema=[{"AttributeName": "session_id", "KeyType": "HASH"}],
            BillingMode="PAY_PER_REQUEST",
        )
    monkeypatch.setenv("UPSTASH_VECTOR_REST_URL", "https://example-vector.upstash.io")
    monkeypatch.delenv("UPSTASH_VECTOR_REST_READONLY_TOKEN", raising=False)
    monkeypatch.delenv("UPSTASH_VECTOR_REST_TOKEN", raising=False)
    monkeypatch.setenv("UPSTASH_VECTOR_REST_READONLY_TOKEN_PARAM", "/bench/ro")
    monkeypatch.setenv("RAGFOOD_SESSIONS_TABLE", "sessions-one")

    created = []
    init = boto3.session.Session.__init__

    def counting_init(self, *args, **kwargs):
        created.append(1)
        init(self, *args, **kwargs)

    monkeypatch.setattr(boto3.session.Session, "__init__", counting_init)
    services.reset()
    try:
        assert services.settings().readonly_token.get_secret_value() == "ro-token"
        services.session_store()
    finally:
        services.reset()
    assert len(created) == 1


@pytest.fixture(autouse=True)
def _no_default_session(monkeypatch):
    # boto3's module-level default session would hide a second session made through it.
    monkeypatch.setattr(boto3, "DEFAULT_SESSION", None)
