"""Moderation reads: the queue with its counts and filters, and what the review page shows."""

import difflib
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from django.db.models import OuterRef, QuerySet, Subquery
from django.utils import timezone

from apps.moderation.models import JobClaim, ModerationDecision
from apps.renders.models import JobStatus, RenderAttempt, RenderJob
from apps.verification.models import VerificationResult

REASON_LABELS = {
    "text": "Wrong text",
    "extra_text": "Extra text",
    "other_text": "Other text (small print, labels)",
    "layout": "Layout",
    "legibility": "Legibility",
    "palette": "Palette",
    "image": "Bad image",
    "other": "Other",
}


@dataclass
class QueueItem:
    job: RenderJob
    attempt: RenderAttempt | None
    reasons: list[str]  # reason kinds: text, extra_text, layout, …
    claimed_by: Any = None  # the user holding a live claim, if any

    @property
    def reason_labels(self) -> list[str]:
        return [REASON_LABELS.get(r, r) for r in self.reasons]


@dataclass
class Queue:
    items: list[QueueItem]
    total: int
    by_template: list[tuple[str, int]] = field(default_factory=list)
    by_engine: list[tuple[str, int]] = field(default_factory=list)
    by_reason: list[tuple[str, int]] = field(default_factory=list)


def reason_kinds(verification: VerificationResult | None) -> list[str]:
    if verification is None:
        return ["other"]
    kinds = []
    for check in verification.checks:
        if check.get("status") in ("review", "fail"):
            kind = str(check.get("name", "other")).split(":")[0]
            if kind not in kinds:
                kinds.append(kind)
    return kinds or ["other"]


def queue_jobs(*, template: Any = None, engine: Any = None) -> QuerySet[RenderJob]:
    """Jobs waiting for review, oldest first, with the engine of their latest attempt."""
    last_engine = Subquery(
        RenderAttempt.objects.filter(job=OuterRef("pk")).order_by("-number").values("engine__slug")[:1]
    )
    jobs = (
        RenderJob.objects.filter(status=JobStatus.NEEDS_REVIEW)
        .select_related("template", "tier")
        .annotate(last_engine=last_engine)
        .order_by("updated_at", "pk")
    )
    if template is not None:
        jobs = jobs.filter(template=template)
    if engine is not None:
        jobs = jobs.filter(last_engine=engine.slug)
    return jobs


def queue(*, template: Any = None, engine: Any = None, reason: str = "") -> Queue:
    """The filtered queue and its counts (counts are over the whole queue, so a filter shows
    how much it leaves out)."""
    jobs = list(queue_jobs())
    ids = [job.pk for job in jobs]
    last: dict[int, RenderAttempt] = {}
    for attempt in (
        RenderAttempt.objects.filter(job_id__in=ids).select_related("engine", "verification").order_by("number")
    ):
        last[attempt.job_id] = attempt
    now = timezone.now()
    claims = {
        c.job_id: c.moderator
        for c in JobClaim.objects.filter(job_id__in=ids, moderator__isnull=False, expires_at__gte=now).select_related(
            "moderator"
        )
    }
    items = [
        QueueItem(
            job=job,
            attempt=last.get(job.pk),
            reasons=reason_kinds(last[job.pk].verification if job.pk in last else None),
            claimed_by=claims.get(job.pk),
        )
        for job in jobs
    ]
    by_template = Counter(item.job.template.name if item.job.template else "(free prompt)" for item in items)
    by_engine = Counter(item.attempt.engine.label if item.attempt else "–" for item in items)
    by_reason = Counter(REASON_LABELS.get(r, r) for item in items for r in item.reasons)
    shown = [
        item
        for item in items
        if (template is None or item.job.template_id == template.pk)
        and (engine is None or (item.attempt is not None and item.attempt.engine_id == engine.pk))
        and (not reason or reason in item.reasons)
    ]
    return Queue(
        items=shown,
        total=len(items),
        by_template=by_template.most_common(),
        by_engine=by_engine.most_common(),
        by_reason=by_reason.most_common(),
    )


def active_claim(job: RenderJob) -> JobClaim | None:
    return (
        JobClaim.objects.filter(job=job, moderator__isnull=False, expires_at__gte=timezone.now())
        .select_related("moderator")
        .first()
    )


def char_diff(expected: str, read: str) -> list[dict[str, str]]:
    """Character-level diff of expected against read text: segments of equal, missing
    (expected, not read), extra (read, not expected) and replaced characters."""
    segments = []
    matcher = difflib.SequenceMatcher(None, expected, read, autojunk=False)
    for op, i1, i2, j1, j2 in matcher.get_opcodes():
        segments.append({"op": op, "expected": expected[i1:i2], "read": read[j1:j2]})
    return segments


@dataclass
class SlotDiff:
    slot: str
    expected: str
    read: str
    status: str
    segments: list[dict[str, str]]


def slot_diffs(job: RenderJob, verification: VerificationResult | None) -> list[SlotDiff]:
    checks = {c.get("name"): c for c in (verification.checks if verification else [])}
    out = []
    for slot, expected in job.texts.items():
        check = checks.get(f"text:{slot}", {})
        read = str((check.get("evidence") or {}).get("read", ""))
        out.append(SlotDiff(slot, expected, read, str(check.get("status", "")), char_diff(expected, read)))
    return out


@dataclass
class Overlay:
    width: int
    height: int
    words: list[dict[str, Any]]
    regions: list[dict[str, Any]]


def overlay(job: RenderJob, verification: VerificationResult | None) -> Overlay:
    """OCR word boxes (expected words vs hallucinated ones) and the slot regions, in the
    image's pixel space (an SVG viewBox)."""
    width, height = job.width, job.height
    for check in verification.checks if verification else []:
        size = (check.get("evidence") or {}).get("size")
        if check.get("name") == "image" and size:
            width, height = int(size[0]), int(size[1])
    words = []
    for word in verification.words if verification else []:
        x0, y0, x1, y1 = (int(v) for v in word.get("box", [0, 0, 0, 0]))
        kind = "ok" if word.get("match") else ("outside" if not word.get("slot") else "bad")
        words.append(
            {"text": word.get("text", ""), "x": x0, "y": y0, "w": max(1, x1 - x0), "h": max(1, y1 - y0), "kind": kind}
        )
    regions = []
    for slot, region in (job.regions or {}).items():
        if len(region) == 4:
            regions.append(
                {
                    "slot": slot,
                    "x": int(region[0] * width),
                    "y": int(region[1] * height),
                    "w": int((region[2] - region[0]) * width),
                    "h": int((region[3] - region[1]) * height),
                }
            )
    return Overlay(width, height, words, regions)


def review_context(job: RenderJob) -> dict[str, Any]:
    attempts = list(job.attempts.select_related("engine", "verification").order_by("number"))
    with_image = [a for a in attempts if a.image]
    shown = next((a for a in reversed(with_image) if a.stage == "final"), with_image[-1] if with_image else None)
    verification = shown.verification if shown else None
    return {
        "attempts": attempts,
        "shown": shown,
        "verification": verification,
        "diffs": slot_diffs(job, verification),
        "overlay": overlay(job, verification),
        "claim": active_claim(job),
        "decisions": list(ModerationDecision.objects.filter(job=job).select_related("moderator")[:20]),
    }
