"""What the ingest function keeps in the bucket to apply uploads in order, one sync at a time.

- A lock per namespace (`sync-state/locks/<namespace>.lock`), taken with a conditional write
  (`If-None-Match: *`): two syncs of one namespace never interleave, so each plans from a listing
  no other sync is changing. The lock records when it expires (the holder's own deadline); a
  waiter may take over an expired lock only with `If-Match` on the ETag it saw, so two waiters
  cannot both win. Released with `If-Match` on our own ETag.
- A marker per object key (`sync-state/applied/<key>.json`) holding the S3 `sequencer` of the last
  event applied for that key, read and written under the lock: an event whose sequencer is lower
  (an older version retried by Lambda hours later, a late delete) changes nothing. An equal one
  (the same event delivered again, or `ragfood invoke` re-run with one event file) is applied
  again: the version is pinned, so that is idempotent.

The prefix is outside `uploads/`, so these objects never trigger the function.
"""

from __future__ import annotations

import json
import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from ragfood.errors import RagfoodError

STATE_PREFIX = "sync-state/"


class SyncBusy(RagfoodError):
    """Another sync of the namespace held the lock for longer than we could wait (transient)."""


def sequencer_is_older(candidate: str, applied: str | None) -> bool:
    """S3's documented comparison: left-pad the shorter hex string with zeros, then compare."""
    if applied is None:
        return False
    width = max(len(candidate), len(applied))
    return candidate.upper().rjust(width, "0") < applied.upper().rjust(width, "0")


def lock_key(namespace: str) -> str:
    return f"{STATE_PREFIX}locks/{quote(namespace, safe='') or '_default'}.lock"


def marker_key(key: str) -> str:
    return f"{STATE_PREFIX}applied/{key}.json"


def _error_code(exc: Exception) -> str:
    response = getattr(exc, "response", None) or {}
    return str(response.get("Error", {}).get("Code", ""))


_CONTENDED = {"PreconditionFailed", "ConditionalRequestConflict", "412", "409"}


@dataclass
class NamespaceLock:
    s3: Any
    bucket: str
    namespace: str
    hold_s: float  # how long we may hold it: our own remaining run time
    wait_s: float  # how long we wait for another holder before giving up (Lambda retries later)
    poll_s: float = 0.5
    clock: Callable[[], float] = time.time
    sleep: Callable[[float], None] = time.sleep
    _etag: str | None = None

    @property
    def key(self) -> str:
        return lock_key(self.namespace)

    def __enter__(self) -> NamespaceLock:
        give_up_at = self.clock() + self.wait_s
        while True:
            if self._try_take():
                return self
            if self.clock() >= give_up_at:
                raise SyncBusy(
                    f"namespace {self.namespace or '(default)'} is being synced by another upload "
                    f"(lock {self.key}); waited {self.wait_s:.0f} s, will be retried"
                )
            self.sleep(self.poll_s * random.uniform(0.5, 1.5))

    def __exit__(self, *exc: object) -> None:
        if self._etag is None:
            return
        try:
            self.s3.delete_object(Bucket=self.bucket, Key=self.key, IfMatch=self._etag)
        except Exception as error:  # taken over after expiry: it is not ours to delete any more
            if _error_code(error) not in _CONTENDED:
                raise
        self._etag = None

    def _body(self) -> bytes:
        return json.dumps({"expires_at": self.clock() + self.hold_s}).encode()

    def _try_take(self) -> bool:
        try:
            answer = self.s3.put_object(
                Bucket=self.bucket, Key=self.key, Body=self._body(), IfNoneMatch="*"
            )
        except Exception as exc:
            if _error_code(exc) not in _CONTENDED:
                raise
        else:
            self._etag = answer["ETag"]
            return True
        return self._take_over_if_expired()

    def _take_over_if_expired(self) -> bool:
        try:
            held = self.s3.get_object(Bucket=self.bucket, Key=self.key)
        except Exception as exc:
            if _error_code(exc) in {"NoSuchKey", "404"}:
                return False  # released meanwhile: the next attempt takes it
            raise
        etag = held["ETag"]
        try:
            expires_at = float(json.loads(held["Body"].read())["expires_at"])
        except (ValueError, KeyError, TypeError):
            expires_at = 0.0  # unreadable: treat as expired
        if expires_at > self.clock():
            return False
        try:
            answer = self.s3.put_object(
                Bucket=self.bucket, Key=self.key, Body=self._body(), IfMatch=etag
            )
        except Exception as exc:
            if _error_code(exc) in _CONTENDED or _error_code(exc) in {"NoSuchKey", "404"}:
                return False  # another waiter took it first
            raise
        self._etag = answer["ETag"]
        return True


def applied_sequencer(s3: Any, bucket: str, key: str) -> str | None:
    try:
        obj = s3.get_object(Bucket=bucket, Key=marker_key(key))
    except Exception as exc:
        if _error_code(exc) in {"NoSuchKey", "404"}:
            return None
        raise
    try:
        value = json.loads(obj["Body"].read()).get("sequencer")
    except (ValueError, AttributeError):  # edited or cut short by hand: no order to keep
        return None
    return value if isinstance(value, str) else None


def record_applied(
    s3: Any, bucket: str, key: str, *, sequencer: str, version_id: str | None, event: str
) -> None:
    body = {"sequencer": sequencer, "version_id": version_id, "event": event, "at": time.time()}
    s3.put_object(
        Bucket=bucket,
        Key=marker_key(key),
        Body=json.dumps(body).encode(),
        ContentType="application/json",
    )
