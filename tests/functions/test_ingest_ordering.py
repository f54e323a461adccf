"""Specification of ingest under real S3 delivery: late and duplicate events, concurrent uploads,
removed objects. Against moto's server over HTTP, like the other function tests."""

from __future__ import annotations

import copy
import json
import threading
from typing import Any

import boto3
import pytest
from pydantic import SecretStr

from ragfood.errors import VectorQuotaExceeded
from ragfood.ingest import ingest_object
from ragfood.retry import RetryPolicy
from ragfood.sync_state import (
    NamespaceLock,
    SyncBusy,
    lock_key,
    marker_key,
    sequencer_is_older,
)
from ragfood.vector import VectorGateway, make_client
from tests.functions.conftest import BUCKET, load_event
from tests.support.samples import BAKLAVA, FEIJOADA, PHO

VERSIONED = "ragfood-kb-versioned"
OLDER, NEWER = "0055AED6DCD90281E5", "0055AED6DCD90281E6"


@pytest.fixture
def versioned(moto_endpoint: str) -> Any:
    client = boto3.client("s3", endpoint_url=moto_endpoint, region_name="us-east-1")
    if VERSIONED not in {b["Name"] for b in client.list_buckets()["Buckets"]}:
        client.create_bucket(Bucket=VERSIONED)
        client.put_bucket_versioning(
            Bucket=VERSIONED, VersioningConfiguration={"Status": "Enabled"}
        )
    for obj in client.list_objects_v2(Bucket=VERSIONED).get("Contents", []):
        client.delete_object(Bucket=VERSIONED, Key=obj["Key"])
    return client


def put(s3: Any, key: str, items: list[dict], bucket: str = VERSIONED) -> str | None:
    answer = s3.put_object(Bucket=bucket, Key=key, Body=json.dumps(items).encode())
    return answer.get("VersionId")


def event(
    name: str = "s3-put-foods.json",
    *,
    key: str = "uploads/foods.json",
    version_id: str | None = None,
    sequencer: str | None = None,
    bucket: str = VERSIONED,
) -> dict[str, Any]:
    data = copy.deepcopy(load_event(name))
    record = data["Records"][0]
    record["s3"]["bucket"].update(name=bucket, arn=f"arn:aws:s3:::{bucket}")
    record["s3"]["object"]["key"] = key
    if version_id is not None:
        record["s3"]["object"]["versionId"] = version_id
    if sequencer is not None:
        record["s3"]["object"]["sequencer"] = sequencer
    return data


def ids_and_texts(index: Any, namespace: str = "") -> dict[str, str]:
    page = index.range(limit=1000, include_data=True, namespace=namespace)
    return {v.id: v.data for v in page.vectors}


def test_an_older_version_processed_after_a_newer_one_changes_nothing(
    versioned, clean_index, function
):
    old = put(versioned, "uploads/foods.json", [PHO, FEIJOADA, BAKLAVA])
    new = put(versioned, "uploads/foods.json", [{**PHO, "text": "Pho, the new description."}])
    ingest = function("ingest")
    ingest.invoke(event(version_id=new, sequencer=NEWER))
    after_new = ids_and_texts(clean_index)
    # Lambda retries the older event hours later (or S3 delivered it late).
    (report,) = ingest.invoke(event(version_id=old, sequencer=OLDER))["reports"]
    assert report["status"] == "skipped" and NEWER in report["error"]
    assert ids_and_texts(clean_index) == after_new
    assert list(after_new) == ["pho"] and after_new["pho"].startswith("Pho, the new description.")


def test_the_version_that_fired_the_event_is_the_one_ingested(versioned, clean_index, function):
    first = put(versioned, "uploads/foods.json", [PHO, FEIJOADA])
    put(versioned, "uploads/foods.json", [BAKLAVA])  # overwritten before the event is processed
    function("ingest").invoke(event(version_id=first, sequencer=OLDER))
    assert set(ids_and_texts(clean_index)) == {"pho", "feijoada"}


def test_sequencers_compare_as_s3_documents_them():
    assert sequencer_is_older("0055AED6DCD90281E5", "0055AED6DCD90281E6")
    assert not sequencer_is_older("0055AED6DCD90281E6", "0055AED6DCD90281E5")
    # Different lengths: left-pad with zeros, then compare (a plain string comparison is wrong).
    assert sequencer_is_older("FFFFFFFFFFFFFFFF", "10000000000000000")
    assert not sequencer_is_older("10000000000000000", "FFFFFFFFFFFFFFFF")
    assert not sequencer_is_older("0055AED6DCD90281E5", "0055aed6dcd90281e5")  # a redelivery
    assert not sequencer_is_older("0055AED6DCD90281E5", None)


@pytest.mark.parametrize("marker", [b"", b"not json", b"[]", b'{"sequencer": 12}'])
def test_an_unreadable_order_marker_does_not_block_its_key(
    versioned, clean_index, function, marker
):
    # Edited, truncated or restored by hand: the marker only orders events; without it the
    # event is applied (its version is pinned), where a crash would fail every upload of the key.
    versioned.put_object(Bucket=VERSIONED, Key=marker_key("uploads/foods.json"), Body=marker)
    version = put(versioned, "uploads/foods.json", [PHO, FEIJOADA])
    (report,) = function("ingest").invoke(event(version_id=version, sequencer=NEWER))["reports"]
    assert report["status"] == "ok" and set(ids_and_texts(clean_index)) == {"pho", "feijoada"}


def test_removing_an_upload_removes_the_items_it_owns(s3, clean_index, function):
    s3.put_object(Bucket=BUCKET, Key="uploads/foods.json", Body=json.dumps([PHO, BAKLAVA]))
    others = [{"id": f"other-{i}", "text": f"Another dish {i}."} for i in range(4)]
    s3.put_object(Bucket=BUCKET, Key="uploads/more.json", Body=json.dumps(others))
    ingest = function("ingest")
    ingest.invoke(load_event("s3-put-foods.json"))
    ingest.invoke(event(key="uploads/more.json", bucket=BUCKET))
    s3.delete_object(Bucket=BUCKET, Key="uploads/foods.json")
    (report,) = ingest.invoke(load_event("s3-delete-foods.json"))["reports"]
    assert (report["status"], report["deleted"]) == ("ok", 2)
    assert set(ids_and_texts(clean_index)) == {f"other-{i}" for i in range(4)}
    # A late put event of the removed object changes nothing either.
    (late,) = ingest.invoke(load_event("s3-put-foods.json"))["reports"]
    assert late["status"] == "skipped"


def test_removing_the_last_upload_of_a_namespace_is_guarded(s3, clean_index, function):
    s3.put_object(Bucket=BUCKET, Key="uploads/foods.json", Body=json.dumps([PHO, BAKLAVA]))
    ingest = function("ingest")
    ingest.invoke(load_event("s3-put-foods.json"))
    s3.delete_object(Bucket=BUCKET, Key="uploads/foods.json")
    (report,) = ingest.invoke(load_event("s3-delete-foods.json"))["reports"]
    assert report["deleted"] == 0 and "2 of 2" in report["deletions_skipped"]
    assert set(ids_and_texts(clean_index)) == {"pho", "baklava"}
    (allowed,) = function("ingest", RAGFOOD_MAX_DELETE_FRACTION="1").invoke(
        load_event("s3-delete-foods.json")
    )["reports"]
    assert allowed["deleted"] == 2


def test_deleting_an_old_version_of_a_live_upload_keeps_its_items(versioned, clean_index, function):
    old = put(versioned, "uploads/foods.json", [PHO])
    put(versioned, "uploads/foods.json", [PHO, BAKLAVA])
    ingest = function("ingest")
    ingest.invoke(event(sequencer=OLDER))
    versioned.delete_object(Bucket=VERSIONED, Key="uploads/foods.json", VersionId=old)
    (report,) = ingest.invoke(event("s3-delete-foods.json", sequencer=NEWER))["reports"]
    assert report["status"] == "skipped" and "still exists" in report["error"]
    assert set(ids_and_texts(clean_index)) == {"pho", "baklava"}


def test_two_uploads_to_one_namespace_sync_one_after_the_other(
    versioned, clean_index, start_vector_server, moto_endpoint
):
    """Both files list "pho". Serialised, the second sees the first's item and reports the
    conflict; interleaved, both would plan from the same empty listing and one would silently
    overwrite the other."""
    slow = start_vector_server(embedder="hash", latency_ms=150)
    put(versioned, "uploads/asia.json", [PHO, {"id": "laksa", "text": "Laksa is a soup."}])
    put(versioned, "uploads/europe.json", [{**PHO, "text": "Pho, as served in Paris."}])
    reports: dict[str, Any] = {}
    start = threading.Barrier(2)

    def run(key: str) -> None:
        s3 = boto3.client("s3", endpoint_url=moto_endpoint, region_name="us-east-1")
        client = make_client(RetryPolicy(3, 0.01, 0.05), 10.0)
        gateway = VectorGateway(slow.url, SecretStr(slow.token), client)
        start.wait()
        reports[key] = ingest_object(s3, gateway, bucket=VERSIONED, key=key, time_left_s=60)

    keys = ("uploads/asia.json", "uploads/europe.json")
    threads = [threading.Thread(target=run, args=(key,)) for key in keys]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    conflicts = [c for r in reports.values() for c in r.conflicts]
    assert len(conflicts) == 1 and conflicts[0].id == "pho"
    winner = next(k for k, r in reports.items() if not r.conflicts)
    stored = slow.index().fetch(["pho"], include_metadata=True)[0]
    assert stored.metadata["source"] == f"s3://{VERSIONED}/{winner}"


def test_a_held_lock_makes_another_sync_wait_then_give_up(versioned):
    waiter = NamespaceLock(versioned, VERSIONED, "acme", hold_s=60, wait_s=0.3, poll_s=0.1)
    with NamespaceLock(versioned, VERSIONED, "acme", hold_s=60, wait_s=1):
        with pytest.raises(SyncBusy, match="acme is being synced"), waiter:
            pass
        with NamespaceLock(versioned, VERSIONED, "globex", hold_s=60, wait_s=0.3):
            pass  # other namespaces are not blocked
    with NamespaceLock(versioned, VERSIONED, "acme", hold_s=60, wait_s=0.3):
        pass  # released


def test_an_expired_lock_is_taken_over(versioned):
    versioned.put_object(Bucket=VERSIONED, Key=lock_key("acme"), Body=b'{"expires_at": 0}')
    with NamespaceLock(versioned, VERSIONED, "acme", hold_s=60, wait_s=0.5, poll_s=0.1):
        body = json.loads(
            versioned.get_object(Bucket=VERSIONED, Key=lock_key("acme"))["Body"].read()
        )
        assert body["expires_at"] > 0


def test_a_used_up_quota_is_reported_in_the_bucket_and_raised(s3, function, start_vector_server):
    used_up = start_vector_server(embedder="hash", write_quota=0)
    s3.put_object(Bucket=BUCKET, Key="uploads/foods.json", Body=json.dumps([PHO, BAKLAVA]))
    ingest = function("ingest", **used_up.client_env())
    # Raised at once (no retries burned), so the event reaches the failure queue saying why.
    with pytest.raises(VectorQuotaExceeded, match="used up a quota"):
        ingest.invoke(load_event("s3-put-foods.json"))
    report = json.loads(
        s3.get_object(Bucket=BUCKET, Key="reports/foods.json.report.json")["Body"].read()
    )
    assert report["status"] == "failed" and "max daily request limit" in report["error"]
