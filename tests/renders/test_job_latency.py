"""Each job says whether it met its tier's latency budget."""

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from apps.policy.models import Tier
from apps.renders.models import JobStatus, RenderJob
from apps.renders.selectors import job_latency

pytestmark = pytest.mark.django_db


def _job(user, *, tier: str, status: str, preview_ms: int | None = None, final_ms: int | None = None) -> RenderJob:  # type: ignore[no-untyped-def]
    tier_obj = Tier.objects.get(slug=tier)
    job = RenderJob.objects.create(
        prompt="p",
        seed=1,
        width=768,
        height=512,
        tier=tier_obj,
        status=status,
        auto_final=tier_obj.auto_final,
        submitted_by=user,
    )
    created = timezone.now() - timedelta(seconds=30)
    fields = {"created_at": created}
    if preview_ms is not None:
        fields["preview_ready_at"] = created + timedelta(milliseconds=preview_ms)
    if final_ms is not None:
        fields["finished_at"] = created + timedelta(milliseconds=final_ms)
    RenderJob.objects.filter(pk=job.pk).update(**fields)
    job.refresh_from_db()
    return job


def test_job_latency_production_final_over_budget(demo, editor):
    job = _job(editor, tier="production", status=JobStatus.DELIVERED, preview_ms=500, final_ms=3400)

    latency = job_latency(job)

    assert (latency.stage, latency.budget_ms, latency.elapsed_ms, latency.met) == ("final", 2200, 3400.0, False)


def test_job_latency_preview_tier_is_measured_at_the_preview(demo, editor):
    job = _job(editor, tier="preview", status=JobStatus.PREVIEW_READY, preview_ms=650)

    latency = job_latency(job)

    assert (latency.stage, latency.elapsed_ms, latency.met) == ("preview", 650.0, True)


def test_job_latency_running_job_counts_time_so_far(demo, editor):
    job = _job(editor, tier="production", status=JobStatus.RENDERING, preview_ms=500)

    latency = job_latency(job, now=job.created_at + timedelta(milliseconds=1800))

    assert (latency.reached, latency.met, latency.elapsed_ms) == (False, None, 1800.0)


def test_job_page_says_whether_the_budget_was_met(client, demo, editor):
    over = _job(editor, tier="production", status=JobStatus.DELIVERED, preview_ms=500, final_ms=3400)
    within = _job(editor, tier="preview", status=JobStatus.PREVIEW_READY, preview_ms=650)
    client.force_login(editor)

    over_page = client.get(reverse("renders:job-detail", args=[over.public_id])).content.decode()
    within_page = client.get(reverse("renders:job-detail", args=[within.public_id])).content.decode()

    assert 'Final in 3.40 s: <span class="badge verdict-fail">over</span> the 2.20 s budget by 1.20 s' in over_page
    assert 'Preview in 650 ms: <span class="badge verdict-pass">within</span> the 800 ms budget' in within_page
