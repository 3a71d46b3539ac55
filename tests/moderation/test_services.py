import pytest

from apps.moderation import services
from apps.moderation.models import JobClaim, ModerationDecision
from apps.renders.models import AttemptStatus, JobStatus
from tests.factories import UserFactory
from tests.moderation.helpers import review_job, run_pending


@pytest.fixture
def job(demo, editor, django_capture_on_commit_callbacks):  # type: ignore[no-untyped-def]
    return review_job(editor=editor, captured=django_capture_on_commit_callbacks)


def test_review_job_is_in_the_queue_because_the_gate_failed_it(job):
    attempt = job.attempts.get()

    assert job.status == JobStatus.NEEDS_REVIEW
    assert attempt.status == AttemptStatus.FAILED
    assert attempt.verification.verdict == "fail"


def test_claim_take_lets_only_one_moderator_work_a_job(job, moderator):
    other = UserFactory(role="moderator")

    first = services.claim_take(job=job, by=moderator)
    second = services.claim_take(job=job, by=other)

    assert (first, second) == (True, False)
    assert JobClaim.objects.get(job=job).moderator == moderator
    assert list(ModerationDecision.objects.values_list("action", flat=True)) == ["claim"]


def test_claim_take_after_the_claim_lapses(job, moderator):
    other = UserFactory(role="moderator")
    services.claim_take(job=job, by=moderator)
    JobClaim.objects.filter(job=job).update(expires_at="2000-01-01T00:00:00Z")

    assert services.claim_take(job=job, by=other) is True


def test_claim_next_skips_jobs_claimed_by_others(demo, editor, moderator, django_capture_on_commit_callbacks):
    first = review_job(editor=editor, captured=django_capture_on_commit_callbacks, title="Spring Sale", seed=1)
    second = review_job(editor=editor, captured=django_capture_on_commit_callbacks, title="Night Market", seed=2)
    other = UserFactory(role="moderator")
    services.claim_take(job=first, by=other)

    assert services.claim_next(by=moderator) == second
    assert services.claim_next(by=moderator) == second  # resumes its own claim
    assert services.claim_next(by=moderator, skip=second) is None


def test_moderation_approve_delivers_and_audits(job, moderator):
    services.claim_take(job=job, by=moderator)

    services.moderation_approve(job=job, by=moderator, reason="Legible enough")

    job.refresh_from_db()
    assert job.status == JobStatus.DELIVERED
    assert list(job.moderation_decisions.values_list("action", "reason")) == [
        ("approve", "Legible enough"),
        ("claim", ""),
    ]
    assert job.events.last().actor == moderator


def test_moderation_reject_needs_the_claim(job, moderator):
    other = UserFactory(role="moderator")
    services.claim_take(job=job, by=other)

    with pytest.raises(services.ClaimError):
        services.moderation_reject(job=job, by=moderator, reason="Misspelled")

    job.refresh_from_db()
    assert job.status == JobStatus.NEEDS_REVIEW


def test_moderation_reject_records_the_reason(job, moderator):
    services.claim_take(job=job, by=moderator)

    services.moderation_reject(job=job, by=moderator, reason="Title misspelled")

    job.refresh_from_db()
    assert job.status == JobStatus.REJECTED
    assert "Title misspelled" in job.status_reason
    assert job.moderation_decisions.first().action == "reject"


def test_compositing_fixes_a_failed_title_end_to_end(job, moderator, django_capture_on_commit_callbacks):
    failed = job.attempts.get()
    assert failed.verification.verdict == "fail"
    services.claim_take(job=job, by=moderator)

    with django_capture_on_commit_callbacks(execute=False):
        attempt = services.moderation_rerender(job=job, by=moderator, step="composite", seed=77)
    job = run_pending(job, django_capture_on_commit_callbacks)

    attempt.refresh_from_db()
    assert attempt.step == "composite"
    # The same always-misspelling engine drew the art; RenderHub set the exact text.
    assert attempt.sent["simulation"]["injected_typos"]
    assert "composite" in attempt.timings_ms
    assert attempt.verification.verdict == "pass"
    assert job.status == JobStatus.DELIVERED
    decision = job.moderation_decisions.first()
    assert (decision.action, decision.details["step"], decision.details["seed"]) == ("rerender", "composite", 77)


def test_moderation_rerender_with_edited_text_updates_the_job(job, moderator, django_capture_on_commit_callbacks):
    services.claim_take(job=job, by=moderator)

    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        attempt = services.moderation_rerender(
            job=job, by=moderator, texts={"title": "Harbour Lights"}, step="guidance"
        )

    job.refresh_from_db()
    assert job.texts == {"title": "Harbour Lights"}
    assert job.status == JobStatus.RENDERING
    assert (attempt.step, attempt.guidance) == ("guidance", 1)
    assert '"Harbour Lights"' in attempt.prompt
    assert len(callbacks) == 1
    assert not JobClaim.objects.filter(job=job, moderator__isnull=False).exists()
