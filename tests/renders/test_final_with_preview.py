"""Tiers that start the automatic final beside the preview (`Tier.final_with_preview`)."""

import pytest

from apps.catalog.models import Template
from apps.engines.models import Engine
from apps.policy.models import Tier
from apps.renders.models import AttemptStatus, JobStatus, Stage
from apps.renders.pipeline.outcome import attempt_verify
from apps.renders.pipeline.run import attempt_fail, attempt_run
from apps.renders.pipeline.submit import job_submit


@pytest.fixture
def cover(demo):  # type: ignore[no-untyped-def]
    Tier.objects.filter(slug="production").update(final_with_preview=True)
    return Template.objects.get(slug="editorial-cover")


@pytest.fixture(autouse=True)
def _no_simulated_wait(settings):  # type: ignore[no-untyped-def]
    settings.RENDERHUB_BUILTIN_LATENCY_SCALE = 0


def _submit(cover, editor, capture):  # type: ignore[no-untyped-def]
    with capture(execute=False) as callbacks:
        job = job_submit(submitted_by=editor, template=cover, texts={"title": "Spring Sale"}, seed=7)
    return job, callbacks


def _run(attempt, capture):  # type: ignore[no-untyped-def]
    """The engine call, then verification, as the workers would."""
    with capture(execute=False):
        attempt_run(attempt_id=attempt.pk)
    attempt.refresh_from_db()
    if attempt.status == AttemptStatus.VERIFYING:
        with capture(execute=False):
            attempt_verify(attempt_id=attempt.pk)
    attempt.refresh_from_db()


def test_submit_starts_the_final_beside_the_preview(cover, editor, django_capture_on_commit_callbacks):
    job, callbacks = _submit(cover, editor, django_capture_on_commit_callbacks)

    assert job.status == JobStatus.PREVIEWING
    assert [(a.stage, a.status, a.seed) for a in job.attempts.all()] == [
        ("preview", "queued", 7),
        ("final", "queued", 7),
    ]
    assert len(callbacks) == 2  # both engine calls are sent


def test_preview_first_then_final_delivers_without_a_second_final(cover, editor, django_capture_on_commit_callbacks):
    job, _ = _submit(cover, editor, django_capture_on_commit_callbacks)
    preview, final = job.attempts.all()

    _run(preview, django_capture_on_commit_callbacks)
    job.refresh_from_db()
    assert job.status == JobStatus.RENDERING
    assert job.preview_ready_at is not None
    _run(final, django_capture_on_commit_callbacks)
    job.refresh_from_db()

    # The final's verdict decides (a simulated typo escalates); no second "initial" final.
    assert list(job.attempts.filter(step="initial").values_list("stage", flat=True)) == ["preview", "final"]
    assert list(job.events.values_list("to_status", flat=True))[:4] == [
        "queued",
        "previewing",
        "preview_ready",
        "rendering",
    ]


def test_final_first_decides_the_job_and_the_late_preview_is_kept(cover, editor, django_capture_on_commit_callbacks):
    Tier.objects.filter(slug="production").update(verify_ocr=False)
    job, _ = _submit(cover, editor, django_capture_on_commit_callbacks)
    preview, final = job.attempts.all()

    _run(final, django_capture_on_commit_callbacks)
    job.refresh_from_db()
    assert job.status == JobStatus.DELIVERED
    _run(preview, django_capture_on_commit_callbacks)
    job.refresh_from_db()

    assert job.status == JobStatus.DELIVERED
    assert preview.status == AttemptStatus.PASSED  # shown on the job page, not "cancelled"
    assert job.attempts.count() == 2


def test_failed_preview_leaves_the_final_to_decide(cover, editor, django_capture_on_commit_callbacks):
    Tier.objects.filter(slug="production").update(verify_ocr=False, fallback_engine=None)
    job, _ = _submit(cover, editor, django_capture_on_commit_callbacks)
    preview, final = job.attempts.all()
    preview.__class__.objects.filter(pk=preview.pk).update(status=AttemptStatus.RUNNING)

    attempt_fail(preview, kind="timeout", message="no answer", timings={})
    job.refresh_from_db()
    assert job.status == JobStatus.RENDERING
    _run(final, django_capture_on_commit_callbacks)
    job.refresh_from_db()

    assert job.status == JobStatus.DELIVERED


def test_refused_preview_cancels_a_final_that_has_not_started(cover, editor, django_capture_on_commit_callbacks):
    job, _ = _submit(cover, editor, django_capture_on_commit_callbacks)
    preview, final = job.attempts.all()
    preview.__class__.objects.filter(pk=preview.pk).update(status=AttemptStatus.RUNNING)

    attempt_fail(preview, kind="refused", message="content policy", timings={}, refused=True)
    job.refresh_from_db()
    final.refresh_from_db()

    assert final.status == AttemptStatus.CANCELLED
    assert job.status == JobStatus.FAILED
    assert "refused" in job.status_reason


def test_final_failing_before_the_preview_fails_the_job_not_stuck(cover, editor, django_capture_on_commit_callbacks):
    Tier.objects.filter(slug="production").update(fallback_engine=None)
    job, _ = _submit(cover, editor, django_capture_on_commit_callbacks)
    _preview, final = job.attempts.all()
    final.__class__.objects.filter(pk=final.pk).update(status=AttemptStatus.RUNNING)

    attempt_fail(final, kind="bad_response", message="not an image", timings={})
    job.refresh_from_db()

    assert job.status == JobStatus.FAILED
    assert "not an image" in job.status_reason
    assert final.stage == Stage.FINAL and Engine.objects.filter(pk=final.engine_id).exists()


def test_tiers_without_the_option_keep_the_final_after_the_preview(demo, editor, django_capture_on_commit_callbacks):
    cover = Template.objects.get(slug="editorial-cover")

    job, _ = _submit(cover, editor, django_capture_on_commit_callbacks)

    assert [a.stage for a in job.attempts.all()] == ["preview"]
