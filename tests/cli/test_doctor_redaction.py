"""`ragfood doctor` shows where it looked, never the credentials in those URLs (issue 10)."""

from __future__ import annotations

from tests.support.generator_stub import GeneratorStub


def test_doctor_never_prints_url_credentials(ragfood):
    with GeneratorStub() as stub:
        host = stub.url.removeprefix("http://")
        result = ragfood(
            "doctor",
            env={
                "GENERATOR_URL": f"http://genuser:gen-pa55word@{host}/?api_key=query-s3cret",
                "GENERATOR_MODEL": "no-such-model",  # the "unknown model" line shows the URL too
            },
        )
    output = result.output
    assert "generator" in output and host in output  # where it looked is still said
    for secret in ("genuser", "gen-pa55word", "query-s3cret"):
        assert secret not in output, output
    assert "***@" in output and "api_key=***" in output


def test_doctor_hides_userinfo_in_the_index_url(ragfood, vector_server):
    host = vector_server.url.removeprefix("http://")
    result = ragfood("doctor", env={"UPSTASH_VECTOR_REST_URL": f"http://ix:ix-pa55@{host}"})
    assert "ix-pa55" not in result.output and f"***@{host}" in result.output
