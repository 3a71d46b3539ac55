import pytest
from django.test import override_settings

from apps.catalog.models import Template
from apps.renders.models import AttemptStatus, JobEvent, JobStatus, RenderJob
from apps.renders.pipeline import enqueue, outcome, sweeper
from apps.renders.pipeline.decisions import BudgetError, job_request_final
from apps.renders.pipeline.hedging import preview_hedge
from apps.renders.pipeline.outcome import attempt_conclude, attempt_verify
from apps.renders.pipeline.run import attempt_fail, attempt_run
from apps.renders.pipeline.state import TransitionError, job_transition
from apps.renders.pipeline.submit import SubmissionError, job_submit, parse_size
from apps.renders.pipeline.sweeper import sweep_stuck


@pytest.fixture
def cover(demo):  # type: ignore[no-untyped-def]
    return Template.objects.get(slug="editorial-cover")


@pytest.fixture(autouse=True)
def _no_simulated_wait(settings):  # type: ignore[no-untyped-def]
    settings.RENDERHUB_BUILTIN_LATENCY_SCALE = 0


def test_job_submit_creates_preview_attempt_and_enqueues_after_commit(
    cover, editor, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks() as callbacks:
        job = job_submit(submitted_by=editor, template=cover, texts={"title": "Spring Sale"}, seed=7)

    assert job.status == JobStatus.PREVIEWING
    assert job.admission == "admitted"
    assert job.tier.slug == "production"
    assert job.prompt.count('"Spring Sale"') == 1
    assert [(a.stage, a.status, a.seed) for a in job.attempts.all()] == [("preview", "queued", 7)]
    assert len(callbacks) == 1
    assert list(job.events.values_list("to_status", flat=True)) == ["queued", "previewing"]


def test_job_submit_rejects_too_long_text_and_writes_nothing(cover, editor):
    with pytest.raises(SubmissionError) as info:
        job_submit(submitted_by=editor, template=cover, texts={"title": "x" * 49})

    assert "title" in info.value.errors
    assert RenderJob.objects.count() == 0


def test_job_submit_without_prompt_or_template_is_an_error(demo, editor):
    with pytest.raises(SubmissionError) as info:
        job_submit(submitted_by=editor, prompt="   ", asset_class="editorial")

    assert info.value.errors == {"prompt": "A prompt is required."}


def test_job_submit_free_prompt_expects_its_quoted_text(demo, editor):
    job = job_submit(submitted_by=editor, prompt='a shop window with the word "SALE"', asset_class="preview")

    assert job.texts == {"text1": "SALE"}
    assert job.tier.slug == "preview"


def test_attempt_run_then_verify_makes_the_preview_ready(cover, editor, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=False):
        job = job_submit(submitted_by=editor, template=cover, texts={"title": "Harbour Lights"}, seed=11)
    attempt = job.attempts.get()

    with django_capture_on_commit_callbacks(execute=False):
        attempt_run(attempt_id=attempt.pk)
    attempt.refresh_from_db()
    assert attempt.status == AttemptStatus.VERIFYING
    assert attempt.image.read(8) == b"\x89PNG\r\n\x1a\n"
    assert set(attempt.timings_ms) >= {"queue_wait", "engine", "store"}
    assert attempt.seed_honoured is True

    with django_capture_on_commit_callbacks(execute=False):
        attempt_verify(attempt_id=attempt.pk)
    attempt.refresh_from_db()
    job.refresh_from_db()
    assert attempt.verification is not None
    assert attempt.status in {AttemptStatus.PASSED, AttemptStatus.FAILED, AttemptStatus.REVIEW}
    assert "verify" in attempt.timings_ms
    # Production tiers go on to the final render automatically.
    assert job.status == JobStatus.RENDERING
    assert [a.stage for a in job.attempts.all()] == ["preview", "final"]


def test_attempt_run_twice_is_a_no_op(cover, editor, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=False):
        job = job_submit(submitted_by=editor, template=cover, texts={"title": "Once Only"})
        attempt = job.attempts.get()
        attempt_run(attempt_id=attempt.pk)
        first = attempt.__class__.objects.get(pk=attempt.pk).image.name
        attempt_run(attempt_id=attempt.pk)

    assert attempt.__class__.objects.get(pk=attempt.pk).image.name == first


def test_job_transition_refuses_an_illegal_move(cover, editor):
    job = job_submit(submitted_by=editor, template=cover, texts={"title": "Rules"})

    with pytest.raises(TransitionError):
        job_transition(job, to=JobStatus.DELIVERED)


def test_job_transition_loses_to_a_concurrent_change(cover, editor):
    job = job_submit(submitted_by=editor, template=cover, texts={"title": "Race"})
    stale = RenderJob.objects.get(pk=job.pk)
    assert job_transition(job, to=JobStatus.FAILED, reason="first") is True

    assert job_transition(stale, to=JobStatus.PREVIEW_READY, reason="second") is False
    assert RenderJob.objects.get(pk=job.pk).status == JobStatus.FAILED
    assert JobEvent.objects.filter(job=job, reason="second").count() == 0


def test_engine_error_fails_the_job_with_the_reason(cover, editor, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=False):
        job = job_submit(submitted_by=editor, template=cover, texts={"title": "Broken"})
    attempt = job.attempts.get()
    attempt.engine.adapter = "nonexistent"
    attempt.engine.save()

    attempt_run(attempt_id=attempt.pk)

    job.refresh_from_db()
    attempt.refresh_from_db()
    assert attempt.status == AttemptStatus.ERROR
    assert attempt.error_kind == "misconfigured"
    assert job.status == JobStatus.FAILED
    assert "No adapter is installed" in job.status_reason


@override_settings(CELERY_TASK_TIME_LIMIT=1)
def test_sweeper_retries_an_attempt_without_a_lease_whose_worker_was_lost(
    cover, editor, django_capture_on_commit_callbacks
):
    from django.utils import timezone

    with django_capture_on_commit_callbacks(execute=False):
        job = job_submit(submitted_by=editor, template=cover, texts={"title": "Lost"})
    attempt = job.attempts.get()
    attempt.__class__.objects.filter(pk=attempt.pk).update(
        status=AttemptStatus.RUNNING, started_at=timezone.now() - timezone.timedelta(minutes=10)
    )

    with django_capture_on_commit_callbacks(execute=False):
        counts = sweep_stuck()

    attempt.refresh_from_db()
    job.refresh_from_db()
    retry = job.attempts.get(number=2)
    assert counts["lost"] == 1
    assert (attempt.status, attempt.error_kind) == (AttemptStatus.ERROR, "worker_lost")
    assert (retry.stage, retry.engine_id, retry.step, retry.status) == ("preview", attempt.engine_id, "lost", "queued")
    assert job.status == JobStatus.PREVIEWING


def test_sweeper_expired_lease_retries_a_final_on_the_final_engine_then_gives_up(
    cover, editor, django_capture_on_commit_callbacks, settings
):
    from django.utils import timezone

    settings.RENDERHUB_LOST_RETRIES = 1
    with django_capture_on_commit_callbacks(execute=False):
        job = job_submit(submitted_by=editor, template=cover, texts={"title": "Lost"}, with_preview=False)
    expired = timezone.now() - timezone.timedelta(seconds=1)

    def lose_the_running_attempt() -> None:
        job.attempts.filter(status=AttemptStatus.QUEUED).update(
            status=AttemptStatus.RUNNING, started_at=expired, lease_until=expired
        )
        with django_capture_on_commit_callbacks(execute=False):
            assert sweep_stuck()["lost"] == 1

    lose_the_running_attempt()
    final, retry = job.attempts.order_by("number")
    assert (retry.stage, retry.engine_id, retry.step) == ("final", final.engine_id, "lost")
    assert final.engine_id != job.tier.fallback_engine_id  # never the preview engine
    lose_the_running_attempt()

    job.refresh_from_db()
    assert job.status == JobStatus.FAILED
    assert "2 attempts lost their worker" in job.status_reason


def test_sweeper_leaves_an_attempt_whose_lease_is_renewed(cover, editor, django_capture_on_commit_callbacks):
    from django.utils import timezone

    with django_capture_on_commit_callbacks(execute=False):
        job = job_submit(submitted_by=editor, template=cover, texts={"title": "Alive"})
    long_ago = timezone.now() - timezone.timedelta(hours=1)
    job.attempts.update(
        status=AttemptStatus.RUNNING, started_at=long_ago, lease_until=timezone.now() + timezone.timedelta(seconds=9)
    )

    assert sweep_stuck()["lost"] == 0
    assert job.attempts.get().status == AttemptStatus.RUNNING


@pytest.mark.parametrize(("value", "expected"), [("768x512", (768, 512)), ("1024X1024", (1024, 1024))])
def test_parse_size_accepts_wxh(value, expected):
    assert parse_size(value) == expected


@pytest.mark.parametrize("value", ["768", "axb", "10x10", "9000x512", "", None])
def test_parse_size_rejects_bad_sizes(value):
    with pytest.raises(ValueError, match=r"Size must|Each side"):
        parse_size(value)


def _hedged_preview(cover, editor, capture, *, auto_final):  # type: ignore[no-untyped-def]
    """A production job whose first preview has been running past the budget, hedged."""
    from django.utils import timezone

    from apps.policy.models import Tier
    from apps.renders.models import RenderAttempt

    Tier.objects.filter(slug="production").update(verify_ocr=False, auto_final=auto_final)
    with capture(execute=False):
        job = job_submit(submitted_by=editor, template=cover, texts={"title": "Hedged"}, seed=3)
    first = job.attempts.get()
    RenderAttempt.objects.filter(pk=first.pk).update(
        status=AttemptStatus.RUNNING, started_at=timezone.now() - timezone.timedelta(seconds=5)
    )
    with capture(execute=False):
        hedge = preview_hedge(attempt_id=first.pk)
    assert hedge is not None
    first.refresh_from_db()
    return job, first, hedge


@pytest.mark.parametrize(("auto_final", "status"), [(False, JobStatus.PREVIEW_READY), (True, JobStatus.RENDERING)])
def test_attempt_fail_of_a_hedge_loser_leaves_the_job_alone(
    cover, editor, django_capture_on_commit_callbacks, auto_final, status
):
    job, first, hedge = _hedged_preview(cover, editor, django_capture_on_commit_callbacks, auto_final=auto_final)
    with django_capture_on_commit_callbacks(execute=False):
        attempt_run(attempt_id=hedge.pk)  # the hedge answers first
    attempts_before = job.attempts.count()

    with django_capture_on_commit_callbacks(execute=False):
        attempt_fail(first, kind="timeout", message="The engine timed out.", timings={})

    job.refresh_from_db()
    first.refresh_from_db()
    assert first.status == AttemptStatus.ERROR
    assert job.status == status
    assert job.attempts.count() == attempts_before


def test_attempt_conclude_preview_that_loses_the_transition_race_is_cancelled(
    cover, editor, django_capture_on_commit_callbacks, monkeypatch
):
    job, first, hedge = _hedged_preview(cover, editor, django_capture_on_commit_callbacks, auto_final=True)
    real_transition = job_transition
    raced = []

    def rival_wins_meanwhile(job, *, to, **kwargs):  # type: ignore[no-untyped-def]
        if to == JobStatus.PREVIEW_READY and not raced:
            raced.append(True)  # the hedge concludes between our read of the job and our update
            attempt_conclude(hedge, status=AttemptStatus.PASSED)
        return real_transition(job, to=to, **kwargs)

    monkeypatch.setattr(outcome, "job_transition", rival_wins_meanwhile)

    with django_capture_on_commit_callbacks(execute=False):
        attempt_conclude(first, status=AttemptStatus.PASSED)

    first.refresh_from_db()
    job.refresh_from_db()
    assert first.status == AttemptStatus.CANCELLED
    assert job.status == JobStatus.RENDERING
    assert job.attempts.filter(stage="final").count() == 1


def test_job_request_final_twice_from_stale_reads_starts_one_final(demo, editor, django_capture_on_commit_callbacks):
    from apps.renders.models import RenderAttempt

    with django_capture_on_commit_callbacks(execute=False):
        job = job_submit(submitted_by=editor, prompt='a "SALE" sign', asset_class="preview", seed=1)
    RenderAttempt.objects.filter(job=job).update(status=AttemptStatus.PASSED)
    RenderJob.objects.filter(pk=job.pk).update(status=JobStatus.PREVIEW_READY)
    first_click, second_click = RenderJob.objects.get(pk=job.pk), RenderJob.objects.get(pk=job.pk)

    with django_capture_on_commit_callbacks(execute=False):
        job_request_final(first_click, by=editor)
        with pytest.raises(TransitionError):
            job_request_final(second_click, by=editor)

    assert job.attempts.filter(stage="final").count() == 1
    assert RenderJob.objects.get(pk=job.pk).status == JobStatus.RENDERING


def _preview_ready(editor, django_capture_on_commit_callbacks, *, verdict):  # type: ignore[no-untyped-def]
    """A preview-tier job (Built-in Turbo renders both its preview and its final) resting at a
    preview with `verdict`, rendered at the job's seed."""
    from django.core.files.base import ContentFile

    from apps.verification.models import VerificationResult

    with django_capture_on_commit_callbacks(execute=False):
        job = job_submit(submitted_by=editor, prompt='a "SALE" sign', asset_class="preview", seed=41)
    preview = job.attempts.get()
    preview.image.save("p.png", ContentFile(b"png"), save=False)
    preview.verification = VerificationResult.objects.create(verdict=verdict)
    preview.status, preview.seed_honoured = AttemptStatus.FAILED if verdict == "fail" else AttemptStatus.PASSED, True
    preview.save()
    RenderJob.objects.filter(pk=job.pk).update(status=JobStatus.PREVIEW_READY)
    return RenderJob.objects.get(pk=job.pk)


def test_job_request_final_after_a_failed_preview_on_the_same_engine_takes_the_next_seed(
    demo, editor, django_capture_on_commit_callbacks
):
    job = _preview_ready(editor, django_capture_on_commit_callbacks, verdict="fail")

    with django_capture_on_commit_callbacks(execute=False):
        final = job_request_final(job, by=editor)

    assert (final.engine_id, final.seed) == (job.attempts.get(number=1).engine_id, 42)
    assert "would render the same image again" in final.reason


def test_job_request_final_after_a_passed_preview_keeps_the_seed(demo, editor, django_capture_on_commit_callbacks):
    job = _preview_ready(editor, django_capture_on_commit_callbacks, verdict="pass")

    with django_capture_on_commit_callbacks(execute=False):
        final = job_request_final(job, by=editor)

    assert final.seed == 41


def test_job_page_says_the_final_of_a_failed_preview_takes_the_next_seed(
    client, demo, editor, django_capture_on_commit_callbacks
):
    from django.urls import reverse

    failed = _preview_ready(editor, django_capture_on_commit_callbacks, verdict="fail")
    passed = _preview_ready(editor, django_capture_on_commit_callbacks, verdict="pass")
    client.force_login(editor)

    failed_page = client.get(reverse("renders:job-detail", args=[failed.public_id])).content.decode()
    passed_page = client.get(reverse("renders:job-detail", args=[passed.public_id])).content.decode()

    assert "Render final (next seed: this one failed)" in failed_page
    assert "Render final (same seed)" in passed_page


@override_settings(CELERY_TASK_TIME_LIMIT=1)
def test_sweep_stuck_one_unrecoverable_attempt_does_not_stop_the_rest(
    cover, editor, django_capture_on_commit_callbacks, monkeypatch
):
    from django.utils import timezone

    from apps.renders.models import RenderAttempt

    with django_capture_on_commit_callbacks(execute=False):
        broken = job_submit(submitted_by=editor, template=cover, texts={"title": "Broken"})
        lost = job_submit(submitted_by=editor, template=cover, texts={"title": "Lost"})
    RenderAttempt.objects.update(
        status=AttemptStatus.RUNNING, started_at=timezone.now() - timezone.timedelta(minutes=10)
    )
    real_start = sweeper.attempt_start

    def start_or_explode(job, **kwargs):  # type: ignore[no-untyped-def]
        if job.pk == broken.pk:
            raise RuntimeError("a bug in one job's recovery")
        return real_start(job, **kwargs)

    monkeypatch.setattr(sweeper, "attempt_start", start_or_explode)

    with django_capture_on_commit_callbacks(execute=False):
        counts = sweep_stuck()

    assert counts["lost"] == 1
    assert RenderJob.objects.get(pk=lost.pk).attempts.filter(step="lost").count() == 1
    assert RenderAttempt.objects.get(job=broken).status == AttemptStatus.RUNNING  # rolled back, tried next sweep


def _run_preview(job, django_capture_on_commit_callbacks):  # type: ignore[no-untyped-def]
    attempt = job.attempts.get()
    with django_capture_on_commit_callbacks(execute=False):
        attempt_run(attempt_id=attempt.pk)
    with django_capture_on_commit_callbacks(execute=False):
        attempt_verify(attempt_id=attempt.pk)
    job.refresh_from_db()


def test_resting_preview_books_its_cost_and_frees_the_hold_for_the_final(
    demo, editor, django_capture_on_commit_callbacks
):
    from apps.policy.services import ledger_for

    thumb = Template.objects.get(slug="product-thumbnail")
    with django_capture_on_commit_callbacks(execute=False):
        job = job_submit(submitted_by=editor, template=thumb, texts={"overlay": "SALE"}, seed=3)
    held_at_admission = ledger_for(tier=job.tier).reserved_usd
    assert held_at_admission == job.estimated_cost_usd > 0

    _run_preview(job, django_capture_on_commit_callbacks)

    ledger = ledger_for(tier=job.tier)
    preview_cost = job.attempts.get().cost_usd
    assert job.status == JobStatus.PREVIEW_READY
    assert (ledger.spent_usd, ledger.reserved_usd) == (preview_cost, 0)

    with django_capture_on_commit_callbacks(execute=False):
        job_request_final(job, by=editor)
    ledger.refresh_from_db()
    assert ledger.reserved_usd > 0
    assert ledger.spent_usd == preview_cost


def test_request_final_without_budget_is_refused_and_the_job_keeps_its_preview(
    demo, editor, django_capture_on_commit_callbacks
):
    from apps.policy.services import ledger_for

    thumb = Template.objects.get(slug="product-thumbnail")
    with django_capture_on_commit_callbacks(execute=False):
        job = job_submit(submitted_by=editor, template=thumb, texts={"overlay": "SALE"}, seed=4)
    _run_preview(job, django_capture_on_commit_callbacks)
    ledger = ledger_for(tier=job.tier)
    ledger.__class__.objects.filter(pk=ledger.pk).update(limit_usd=ledger.spent_usd)

    with pytest.raises(BudgetError, match="cannot hold the final"):
        job_request_final(job, by=editor)

    job.refresh_from_db()
    assert job.status == JobStatus.PREVIEW_READY
    assert job.attempts.count() == 1


def test_sweep_stuck_sends_a_waiting_attempt_again_once_per_interval(
    cover, editor, django_capture_on_commit_callbacks, monkeypatch
):
    from django.utils import timezone

    from apps.renders.models import RenderAttempt

    with django_capture_on_commit_callbacks(execute=False):
        job = job_submit(submitted_by=editor, template=cover, texts={"title": "Waiting"})
    RenderAttempt.objects.update(created_at=timezone.now() - timezone.timedelta(minutes=10))
    sent: list[int] = []
    monkeypatch.setattr(enqueue, "attempt_run", lambda attempt, **kw: sent.append(attempt.pk))

    first = sweep_stuck(queued_after_s=120)
    second = sweep_stuck(queued_after_s=120)
    RenderAttempt.objects.update(resent_at=timezone.now() - timezone.timedelta(minutes=3))
    third = sweep_stuck(queued_after_s=120)

    attempt = job.attempts.get()
    assert (first["requeued"], second["requeued"], third["requeued"]) == (1, 0, 1)
    assert sent == [attempt.pk, attempt.pk]
    assert attempt.resent_at is not None
