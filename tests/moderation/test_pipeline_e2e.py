"""End to end on real services: Celery workers (engine threads, verification prefork) against
PostgreSQL and Redis, the real gate with RapidOCR, and the moderator's composite step."""

import pytest

from apps.catalog.models import Template
from apps.moderation import services
from apps.policy.models import Tier
from apps.renders.models import AttemptStatus, JobStatus, RenderJob
from apps.renders.pipeline.submit import job_submit
from tests.conftest import wait_for
from tests.moderation.helpers import typo_engine

pytestmark = pytest.mark.django_db(transaction=True)


def test_compositing_fixes_a_failed_title_through_real_workers(celery_workers, demo, editor, moderator):
    tier = Tier.objects.get(slug="production")
    Tier.objects.filter(pk=tier.pk).update(max_attempts=1)
    tier.refresh_from_db()
    job = job_submit(
        submitted_by=editor,
        template=Template.objects.get(slug="editorial-cover"),
        texts={"title": "Harbour Lights Tonight"},
        seed=3,
        engine=typo_engine(),
        with_preview=False,
        tier=tier,
    )

    wait_for(lambda: RenderJob.objects.get(pk=job.pk).status == JobStatus.NEEDS_REVIEW, timeout=90)
    job.refresh_from_db()
    first = job.attempts.get()
    assert (first.status, first.verification.verdict) == (AttemptStatus.FAILED, "fail")
    assert first.sent["simulation"]["injected_typos"]

    assert services.claim_take(job=job, by=moderator)
    services.moderation_rerender(job=job, by=moderator, step="composite", seed=11)

    wait_for(lambda: RenderJob.objects.get(pk=job.pk).status == JobStatus.DELIVERED, timeout=90)
    second = job.attempts.get(number=2)
    assert second.step == "composite"
    assert second.verification.verdict == "pass"
    assert second.verification.backend == "rapidocr"
    assert second.verification.ocr_text == "Harbour Lights Tonight"
