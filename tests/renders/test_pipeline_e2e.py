"""The pipeline end to end: real worker processes, PostgreSQL, Redis, Tesseract."""

import pytest

from apps.catalog.models import Template
from apps.renders.models import JobStatus, RenderJob
from apps.renders.pipeline.decisions import job_request_final
from apps.renders.pipeline.submit import job_submit
from tests.conftest import wait_for

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def _status(job: RenderJob, *wanted: str) -> RenderJob | None:
    job.refresh_from_db()
    return job if job.status in wanted else None


def test_production_job_goes_preview_then_final_on_real_workers(celery_workers, demo, editor):
    cover = Template.objects.get(slug="editorial-cover")

    job = job_submit(submitted_by=editor, template=cover, texts={"title": "Harbour Lights"}, seed=3)

    wait_for(lambda: _status(job, JobStatus.DELIVERED, JobStatus.NEEDS_REVIEW, JobStatus.FAILED), timeout=60)
    attempts = list(job.attempts.order_by("number"))
    assert job.status in {JobStatus.DELIVERED, JobStatus.NEEDS_REVIEW}, job.status_reason
    assert [a.stage for a in attempts][:2] == ["preview", "final"]
    assert {a.seed for a in attempts[:2]} == {3}
    assert attempts[0].engine.slug == "builtin-turbo"
    assert attempts[1].engine.slug == "builtin-ultra"
    for attempt in attempts:
        assert attempt.verification is not None
        assert {"queue_wait", "engine", "store", "verify"} <= set(attempt.timings_ms)
    events = list(job.events.values_list("to_status", flat=True))
    assert events[:4] == ["queued", "previewing", "preview_ready", "rendering"]
    assert job.preview_ready_at is not None
    assert job.actual_cost_usd == sum(a.cost_usd for a in attempts)


def test_preview_tier_waits_for_the_editor_before_the_final(celery_workers, demo, editor):
    thumb = Template.objects.get(slug="product-thumbnail")

    job = job_submit(submitted_by=editor, template=thumb, texts={"overlay": "SALE"}, seed=9)

    wait_for(lambda: _status(job, JobStatus.PREVIEW_READY, JobStatus.FAILED), timeout=30)
    assert job.status == JobStatus.PREVIEW_READY
    assert job.attempts.count() == 1

    job_request_final(job, by=editor)

    wait_for(lambda: _status(job, JobStatus.DELIVERED, JobStatus.NEEDS_REVIEW, JobStatus.FAILED), timeout=30)
    assert job.status in {JobStatus.DELIVERED, JobStatus.NEEDS_REVIEW}
    final = job.attempts.get(stage="final")
    assert final.seed == 9
    assert final.image
