"""Idempotent creation: a repeated create request answers with the jobs of the first one.

Every create endpoint (`POST /api/v1/renders`, `/api/models/render`, `/api/models/<engine>`,
`/v1/images/generations`) takes an `Idempotency-Key` header (at most 255 characters). The
first request with a key creates its jobs and remembers them for 24 hours, per user and
endpoint, with the SHA-256 of its body: the same key with the same body answers with the same
jobs (the answer is rebuilt from their current state, so a key sent again after the render
finished gets the image); the same key with another body is refused with 422 (`KeyReused`).

Retries without a key: the official OpenAI SDKs (Python `openai` 3.57, and every SDK built the
same way) retry 408, 409, 429 and 5xx answers and dropped connections twice by default, but
send no idempotency key on the wire (`OpenAI._idempotency_header` is None in
`openai/_base_client.py`); every attempt carries `x-stainless-retry-count` (0 first, then 1,
2). So a request that carries that header and no key is remembered for 10 minutes as a
*retry fingerprint* (blank key, body hash), and a retry (count ≥ 1) with the same body from
the same user answers from the latest fingerprint instead of creating jobs. A fresh request
(count 0) with the same body is a new request (a chat front-end's "regenerate"), not a retry.

Usage, inside one `transaction.atomic()` with the job creation, so a request that fails
validation leaves no key behind:

    claim = request_claim(user=…, scope=request.path, key=…, body=request.body, retry_count=…)
    if claim.replay: answer from claim.record
    else: create jobs, then claim_bind(claim, jobs=…) or claim_store(claim, status=…, answer=…)
"""

import hashlib
import json
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from django.contrib.auth.models import AbstractBaseUser
from django.http import HttpRequest
from django.utils import timezone

from apps.renders.models import IdempotencyKey, RenderJob

KEY_TTL = timedelta(hours=24)
RETRY_FINGERPRINT_TTL = timedelta(minutes=10)
MAX_KEY_LENGTH = 255
RETRY_COUNT_HEADER = "x-stainless-retry-count"


class KeyReused(Exception):
    """The key was used before with another body (answer 422)."""


class BadKey(ValueError):
    """The Idempotency-Key header is unusable (answer 400)."""


@dataclass(frozen=True, kw_only=True)
class Claim:
    record: IdempotencyKey | None  # None: nothing to remember (no key, not a counting SDK)
    replay: bool  # True: answer from `record` (its jobs or its stored answer)

    @property
    def in_progress(self) -> bool:
        """A replay whose first request has neither jobs nor an answer yet."""
        return self.replay and self.record is not None and not self.record.job_ids and self.record.answer is None

    def jobs(self) -> list[RenderJob]:
        """The remembered jobs, in the order the first request created them."""
        if self.record is None:
            return []
        by_pk = RenderJob.objects.select_related("tier").in_bulk(self.record.job_ids)
        return [by_pk[pk] for pk in self.record.job_ids if pk in by_pk]


@dataclass(frozen=True, kw_only=True)
class RequestKeys:
    key: str  # the Idempotency-Key header, "" when absent
    retry_count: int | None  # x-stainless-retry-count, None when absent or not a number


def request_keys(request: HttpRequest) -> RequestKeys:
    """The request's Idempotency-Key and SDK retry count; BadKey for an unusable key."""
    key = request.headers.get("Idempotency-Key", "").strip()
    if len(key) > MAX_KEY_LENGTH or any(ord(ch) < 32 for ch in key):
        raise BadKey(f"Idempotency-Key must be at most {MAX_KEY_LENGTH} printable characters.")
    raw = request.headers.get(RETRY_COUNT_HEADER, "").strip()
    return RequestKeys(key=key, retry_count=int(raw) if raw.isdigit() and len(raw) < 6 else None)


def body_digest(body: bytes) -> str:
    """SHA-256 of a JSON body in canonical form (key order and spacing do not change it); of
    the raw bytes when the body is not JSON."""
    try:
        canonical = json.dumps(json.loads(body), sort_keys=True, separators=(",", ":"), ensure_ascii=True).encode()
    except (ValueError, RecursionError, TypeError):
        canonical = body
    return hashlib.sha256(canonical).hexdigest()


def request_claim(*, user: AbstractBaseUser, scope: str, key: str, body: bytes, retry_count: int | None) -> Claim:
    """Find or create the record of this request. Call inside `transaction.atomic()`.

    With a key: the first request creates the record (a concurrent twin waits on the unique
    index until the first commits, then replays it); a repeat with the same body replays,
    with another body raises KeyReused. An expired key starts afresh. Without a key: only a
    request counting its retries is remembered (see the module docstring); others get a
    Claim with no record. Writes: at most one IdempotencyKey row.
    """
    now = timezone.now()
    digest = body_digest(body)
    if key:
        IdempotencyKey.objects.filter(user=user, scope=scope, key=key, expires_at__lte=now).delete()
        record, created = IdempotencyKey.objects.get_or_create(
            user=user, scope=scope, key=key, defaults={"body_sha256": digest, "expires_at": now + KEY_TTL}
        )
        if created:
            return Claim(record=record, replay=False)
        if record.body_sha256 != digest:
            raise KeyReused(
                "This Idempotency-Key was used with a different request body; use a new key for a new request."
            )
        return Claim(record=record, replay=True)
    if retry_count is None:
        return Claim(record=None, replay=False)
    if retry_count > 0:
        earlier = (
            IdempotencyKey.objects.filter(user=user, scope=scope, key="", body_sha256=digest, expires_at__gt=now)
            .order_by("-created_at", "-pk")
            .first()
        )
        if earlier is not None:
            return Claim(record=earlier, replay=True)
    record = IdempotencyKey.objects.create(
        user=user, scope=scope, key="", body_sha256=digest, expires_at=now + RETRY_FINGERPRINT_TTL
    )
    return Claim(record=record, replay=False)


def claim_bind(claim: Claim, *, jobs: list[RenderJob]) -> None:
    """Remember the jobs the request created (no-op without a record)."""
    if claim.record is not None:
        claim.record.job_ids = [job.pk for job in jobs]
        claim.record.save(update_fields=["job_ids"])


def claim_store(claim: Claim, *, status: int, answer: dict[str, Any]) -> None:
    """Remember an answer that created no job and that a repeat cannot change (a budget refusal)."""
    if claim.record is not None:
        claim.record.answer_status, claim.record.answer = status, answer
        claim.record.save(update_fields=["answer_status", "answer"])


def claim_release(claim: Claim) -> None:
    """Forget the request: its outcome may change when it is sent again (a busy queue)."""
    if claim.record is not None and claim.record.pk is not None:
        claim.record.delete()


def idempotency_purge() -> int:
    """Delete expired keys and fingerprints; returns how many."""
    deleted, _ = IdempotencyKey.objects.filter(expires_at__lte=timezone.now()).delete()
    return deleted
