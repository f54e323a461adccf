"""Specification of the ingest function, invoked with the S3 events in events/."""

from __future__ import annotations

import json
from typing import Any

import pytest
from upstash_vector import Index

from ragfood.errors import ConfigError, VectorUnavailable
from ragfood_vector.launcher import free_port
from tests.functions.conftest import BUCKET, load_event
from tests.support.samples import BAKLAVA, FEIJOADA, PHO
from tests.support.trickle_proxy import TrickleProxy

FOODS = [PHO, FEIJOADA, BAKLAVA]


def put(s3: Any, key: str, body: bytes | list) -> None:
    data = json.dumps(body).encode() if isinstance(body, list) else body
    s3.put_object(Bucket=BUCKET, Key=key, Body=data)


def report_in_bucket(s3: Any, key: str) -> dict:
    return json.loads(s3.get_object(Bucket=BUCKET, Key=key)["Body"].read())


def ids_in(index: Index, namespace: str = "") -> set[str]:
    return {v.id for v in index.range(limit=1000, namespace=namespace).vectors}


def test_put_event_ingests_the_uploaded_file(s3, clean_index, function):
    put(s3, "uploads/foods.json", FOODS)
    result = function("ingest").invoke(load_event("s3-put-foods.json"))
    (report,) = result["reports"]
    assert (report["status"], report["upserted"]) == ("ok", 3)
    assert ids_in(clean_index) == {"pho", "feijoada", "baklava"}


def test_report_is_written_where_it_cannot_retrigger_ingestion(s3, clean_index, function):
    put(s3, "uploads/foods.json", FOODS)
    function("ingest").invoke(load_event("s3-put-foods.json"))
    report = report_in_bucket(s3, "reports/foods.json.report.json")
    assert report["source"] == f"s3://{BUCKET}/uploads/foods.json" and report["upserted"] == 3


def test_every_record_is_ingested_with_url_decoded_keys(s3, clean_index, function):
    put(s3, "uploads/tenants/acme/foods.json", FOODS[:1])
    put(s3, "uploads/tenants/globex/my foods (2).json", FOODS[1:])
    reports = function("ingest").invoke(load_event("s3-put-tenants.json"))["reports"]
    assert [(r["namespace"], r["upserted"]) for r in reports] == [("acme", 1), ("globex", 2)]
    assert ids_in(clean_index, "acme") == {"pho"}
    assert ids_in(clean_index, "globex") == {"feijoada", "baklava"}


def test_invalid_json_is_reported_without_raising_and_keeps_the_index(s3, clean_index, function):
    ingest = function("ingest")
    put(s3, "uploads/foods.json", FOODS)
    ingest.invoke(load_event("s3-put-foods.json"))
    put(s3, "uploads/foods.json", b'[{"id": "pho", "text": "trunc')
    (report,) = ingest.invoke(load_event("s3-put-foods.json"))["reports"]
    assert report["status"] == "rejected" and "truncated" in report["error"]
    assert ids_in(clean_index) == {"pho", "feijoada", "baklava"}
    assert report_in_bucket(s3, "reports/foods.json.report.json")["status"] == "rejected"


def test_rejected_items_are_listed_in_the_report(s3, clean_index, function):
    put(s3, "uploads/foods.json", [*FOODS, {"id": "nameless"}])
    (report,) = function("ingest").invoke(load_event("s3-put-foods.json"))["reports"]
    assert report["status"] == "partial"
    assert report["rejected"] == [{"index": 3, "id": "nameless", "reason": "missing field 'text'"}]


def test_vanished_object_is_reported_not_retried(s3, clean_index, function):
    (report,) = function("ingest").invoke(load_event("s3-put-foods.json"))["reports"]
    assert report["status"] == "rejected" and "no longer exists" in report["error"]


def with_the_index_down(function):
    """The ingest function pointed at a port nothing listens on, giving up after 2 attempts."""
    return function(
        "ingest",
        UPSTASH_VECTOR_REST_URL=f"http://127.0.0.1:{free_port()}",
        RAGFOOD_MAX_ATTEMPTS="2",
    )


def test_unreachable_index_raises_so_lambda_retries_and_a_rerun_succeeds(s3, clean_index, function):
    put(s3, "uploads/foods.json", FOODS)
    down = with_the_index_down(function)
    with pytest.raises(VectorUnavailable):
        down.invoke(load_event("s3-put-foods.json"))
    again = function("ingest").invoke(load_event("s3-put-foods.json"))
    assert again["reports"][0]["upserted"] == 3
    assert clean_index.info().namespaces[""].vector_count == 3  # no duplicates


def test_while_the_index_is_down_the_report_says_so_not_the_last_upload_s_outcome(
    s3, clean_index, function
):
    put(s3, "uploads/foods.json", FOODS)
    function("ingest").invoke(load_event("s3-put-foods.json"))
    put(s3, "uploads/foods.json", [*FOODS, {"id": "new", "text": "A new dish."}])
    down = with_the_index_down(function)
    with pytest.raises(VectorUnavailable):
        down.invoke(load_event("s3-put-foods.json"))
    report = report_in_bucket(s3, "reports/foods.json.report.json")
    assert report["status"] == "failed" and "cannot reach vector index" in report["error"]
    assert "retries this event" in report["error"]
    assert ids_in(clean_index) == {"pho", "feijoada", "baklava"}  # what was indexed stays


EVENTBRIDGE_OBJECT_CREATED = {
    "version": "0",
    "detail-type": "Object Created",
    "source": "aws.s3",
    "detail": {"bucket": {"name": BUCKET}, "object": {"key": "uploads/foods.json"}},
}


@pytest.mark.parametrize(
    ("event", "named"),
    [
        (load_event("api-ask.json"), "no 'Records'"),
        (EVENTBRIDGE_OBJECT_CREATED, "EventBridge"),
        ({"Records": [{"eventSource": "aws:sqs", "body": "{}"}]}, "record 0 is not an S3"),
    ],
    ids=["api-event", "eventbridge", "sqs-record"],
)
def test_an_event_that_is_not_an_s3_notification_is_refused_by_name(
    s3, clean_index, function, event, named
):
    with pytest.raises(ValueError, match="not an S3 event notification") as raised:
        function("ingest").invoke(event)
    assert named in str(raised.value)


def test_the_test_event_s3_sends_when_notifications_are_set_up_changes_nothing(
    s3, clean_index, function
):
    event = {"Service": "Amazon S3", "Event": "s3:TestEvent", "Bucket": BUCKET}
    assert function("ingest").invoke(event) == {"reports": []}


def test_a_folder_created_under_uploads_is_not_an_upload(s3, clean_index, function):
    # The S3 console's "Create folder" writes an empty object named "<prefix>/".
    put(s3, "uploads/tenants/acme/", b"")
    event = load_event("s3-put-foods.json")
    event["Records"][0]["s3"]["object"]["key"] = "uploads/tenants/acme/"
    (report,) = function("ingest").invoke(event)["reports"]
    assert report["status"] == "skipped" and "folder" in report["error"]
    listed = s3.list_objects_v2(Bucket=BUCKET, Prefix="reports/").get("Contents", [])
    assert listed == []  # no 'rejected: file is empty' report for it


def test_a_token_pasted_with_a_line_break_works_and_a_broken_one_is_never_shown(
    s3, clean_index, function, vector_server
):
    # `echo $TOKEN > file`, an env file or a parameter saved with a final newline: the line
    # break is not part of the token. Anything that cannot go in an HTTP header is refused by
    # the variable's name, never by its value (httpx would quote the whole header).
    put(s3, "uploads/foods.json", FOODS)
    pasted = function("ingest", UPSTASH_VECTOR_REST_TOKEN=f"  {vector_server.token}\r\n")
    assert pasted.invoke(load_event("s3-put-foods.json"))["reports"][0]["status"] == "ok"
    for broken in (f"{vector_server.token}\nX", f"{vector_server.token}\u00dc"):
        with pytest.raises(ConfigError, match="UPSTASH_VECTOR_REST_TOKEN") as raised:
            function("ingest", UPSTASH_VECTOR_REST_TOKEN=broken).invoke(
                load_event("s3-put-foods.json")
            )
        assert vector_server.token[:8] not in str(raised.value)


@pytest.mark.parametrize("url", ["http://", "http://[::1", "http://127.0.0.1:99999"])
def test_an_index_url_without_a_usable_host_is_refused_by_its_variable(s3, function, url):
    put(s3, "uploads/foods.json", FOODS)
    with pytest.raises(ConfigError, match=r"UPSTASH_VECTOR_REST_URL: .* not a URL with a host"):
        function("ingest", UPSTASH_VECTOR_REST_URL=url).invoke(load_event("s3-put-foods.json"))


@pytest.mark.parametrize(
    "key", ["reports/foods.json.report.json", "sync-state/locks/_default.lock", "foods.json"]
)
def test_an_event_for_an_object_outside_uploads_writes_nothing_that_could_loop(
    s3, clean_index, function, key
):
    # A notification widened to the whole bucket would deliver the function's own writes: a
    # report written for each would fire it again, without end.
    put(s3, key, b"{}")
    event = load_event("s3-put-foods.json")
    event["Records"][0]["s3"]["object"]["key"] = key
    (report,) = function("ingest").invoke(event)["reports"]
    assert report["status"] == "rejected" and "only uploads are ingested" in report["error"]
    keys = {o["Key"] for o in s3.list_objects_v2(Bucket=BUCKET).get("Contents", [])}
    assert keys == {key}


def test_an_index_failing_midway_leaves_a_report_of_what_was_written(
    s3, clean_index, function, vector_server
):
    put(s3, "uploads/foods.json", [{"id": f"d{i}", "text": f"Dish {i}."} for i in range(10)])
    # info (the namespace is empty: nothing to list), then three batches of two land before
    # the index goes down.
    with TrickleProxy(vector_server.url, trickled=0, down_after=4) as proxy:
        ingest = function(
            "ingest",
            UPSTASH_VECTOR_REST_URL=proxy.url,
            RAGFOOD_BATCH_SIZE="2",
            RAGFOOD_PARALLELISM="1",
            RAGFOOD_MAX_ATTEMPTS="2",
        )
        with pytest.raises(VectorUnavailable):
            ingest.invoke(load_event("s3-put-foods.json"))
    report = report_in_bucket(s3, "reports/foods.json.report.json")
    assert (report["status"], report["items"], report["upserted"]) == ("failed", 10, 6)
    assert "HTTP 503" in report["error"] and "retries this event" in report["error"]
    assert len(ids_in(clean_index)) == 6  # what the report says was written


def test_second_upload_updates_and_prunes_exactly_what_changed(s3, clean_index, function):
    ingest = function("ingest")
    many = [{"id": f"dish-{i}", "text": f"dish number {i}"} for i in range(10)]
    put(s3, "uploads/foods.json", many)
    ingest.invoke(load_event("s3-put-foods.json"))
    changed = [*many[:8]]
    changed[0] = {"id": "dish-0", "text": "a brand new description"}
    put(s3, "uploads/foods.json", changed)
    (report,) = ingest.invoke(load_event("s3-put-foods.json"))["reports"]
    assert (report["upserted"], report["unchanged"], report["deleted"]) == (1, 7, 2)
    assert ids_in(clean_index) == {f"dish-{i}" for i in range(8)}


def test_metrics_are_emitted_for_each_upload(s3, clean_index, function, capsys):
    put(s3, "uploads/foods.json", FOODS)
    function("ingest").invoke(load_event("s3-put-foods.json"))
    emitted = [json.loads(line) for line in capsys.readouterr().out.splitlines() if "_aws" in line]
    metrics = {
        m["Name"] for doc in emitted for d in doc["_aws"]["CloudWatchMetrics"] for m in d["Metrics"]
    }
    assert {
        "ItemsUpserted",
        "ItemsUnchanged",
        "ItemsDeleted",
        "ItemsRejected",
        "IngestDuration",
    } <= metrics
    assert any(
        doc.get("ItemsUpserted") == 3.0 or doc.get("ItemsUpserted") == [3.0] for doc in emitted
    )
