from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from django.db import DataError, transaction
from django.utils import timezone

from apps.engines.models import Engine
from apps.policy import services as policy
from apps.policy.models import BudgetLedger, CostOutcome, Reservation, ReservationState, WhenSpent
from apps.renders.models import AttemptStatus, JobStatus, RenderAttempt
from apps.renders.pipeline import enqueue, sweeper
from apps.renders.pipeline.hedging import preview_hedge
from apps.renders.pipeline.outcome import attempt_conclude
from apps.renders.pipeline.run import attempt_run
from apps.renders.pipeline.submit import admission_inputs, job_submit
from apps.renders.pipeline.sweeper import jobs_release_deferred


@pytest.fixture(autouse=True)
def _no_simulated_wait(settings):  # type: ignore[no-untyped-def]
    settings.RENDERHUB_BUILTIN_LATENCY_SCALE = 0


def decide(tier, *, asset_class="editorial", ref="job-1", **kw):  # type: ignore[no-untyped-def]
    return policy.admission_decide(
        tier=tier, engine=None, width=768, height=512, asset_class=asset_class, ref=ref, **kw
    )


def test_cost_estimate_without_history_is_preview_plus_one_final(production):
    estimate = policy.cost_estimate(tier=production, engine=None, width=768, height=512)

    assert estimate.expected_attempts == Decimal("1")
    assert estimate.total_usd == Decimal("0.1000")  # 0.04 preview + 1 × 0.06 final


def test_cost_estimate_learns_expected_attempts_per_template_and_engine(production):
    for attempts in (1, 2, 3, 2):
        policy.cost_record_outcome(
            template="editorial-cover", engine="builtin-ultra", attempts=attempts, delivered=True
        )

    learnt = policy.cost_estimate(tier=production, engine=None, width=768, height=512, template="editorial-cover")
    engine_only = policy.cost_estimate(tier=production, engine=None, width=768, height=512, template="other")

    assert learnt.expected_attempts == Decimal("2.00")
    assert learnt.total_usd == Decimal("0.1600")  # 0.04 + 2 × 0.06
    assert engine_only.expected_attempts == Decimal("2.00")  # falls back to the engine's history
    assert CostOutcome.objects.count() == 4


def test_admission_reason_says_how_an_estimate_with_re_renders_adds_up(production):
    for attempts in (1, 2, 3, 2):
        policy.cost_record_outcome(
            template="editorial-cover", engine="builtin-ultra", attempts=attempts, delivered=True
        )

    decision = decide(production, template="editorial-cover")

    assert decision.estimate_usd == Decimal("0.1600")
    assert decision.reason == (
        "Admitted to Production, estimated $0.16 ($0.04 preview + 2.00 expected final attempts × $0.06)."
    )


def test_engine_price_uses_table_for_size_and_quality(production):
    engine = production.final_engine
    engine.price_table = {"1024x1024": {"standard": "0.04", "hd": "0.08"}}
    engine.save()

    assert policy.engine_price(engine=engine, width=1024, height=1024, quality="hd") == Decimal("0.08")
    assert policy.engine_price(engine=engine, width=768, height=512) == Decimal("0.0600")


def test_admission_reserves_then_settle_and_release_happen_once(production):
    decision = decide(production, ref="a")

    assert decision.outcome == policy.Outcome.ADMIT
    assert decision.estimate_usd == Decimal("0.1000")
    ledger = BudgetLedger.objects.get(tier=production)
    assert (ledger.reserved_usd, ledger.spent_usd) == (Decimal("0.1000"), Decimal("0"))

    assert policy.budget_settle(ref="a", actual_usd=Decimal("0.0700")) is True
    assert policy.budget_settle(ref="a", actual_usd=Decimal("0.0700")) is False  # redelivered: no-op
    assert policy.budget_release(ref="a") is False
    ledger.refresh_from_db()
    assert (ledger.reserved_usd, ledger.spent_usd) == (Decimal("0"), Decimal("0.0700"))
    assert Reservation.objects.get(ref="a").state == ReservationState.SETTLED


def test_admission_same_ref_twice_reserves_once(production):
    decide(production, ref="a")
    decide(production, ref="a")

    assert BudgetLedger.objects.get(tier=production).reserved_usd == Decimal("0.1000")


def test_budget_reserve_refuses_a_ref_too_long_for_its_column_as_the_orm_does(production):
    ref = "r" * 65  # Reservation.ref holds 64 characters
    policy.ledger_for(tier=production)

    with pytest.raises(DataError), transaction.atomic():
        policy.budget_reserve(tier=production, ref=ref, amount_usd=Decimal("0.10"), new_ref=True)

    # Not held under a ref cut short, which no settle or release (by the whole ref) would ever find.
    assert not Reservation.objects.exists()
    assert BudgetLedger.objects.get(tier=production).reserved_usd == Decimal("0")


def test_budget_release_returns_money_without_spending(production):
    decide(production, ref="a")

    assert policy.budget_release(ref="a") is True
    ledger = BudgetLedger.objects.get(tier=production)
    assert (ledger.reserved_usd, ledger.spent_usd) == (Decimal("0"), Decimal("0"))


def test_admission_degrades_to_cheaper_tier_when_nearly_spent(production, preview_tier):
    production.daily_budget_usd = Decimal("1.00")
    production.save()
    for i in range(9):
        assert decide(production, ref=f"r{i}").outcome == policy.Outcome.ADMIT

    decision = decide(production, ref="late")  # 0.90 held + 0.10 > 90 % of 1.00

    assert decision.outcome == policy.Outcome.DEGRADE
    assert decision.tier == preview_tier
    assert "nearly spent" in decision.reason and "Preview" in decision.reason
    assert Reservation.objects.get(ref="late").ledger.tier == preview_tier


def test_admission_never_degrades_must_not_degrade_class_and_defers_to_reset(production):
    production.daily_budget_usd = Decimal("0.10")
    production.save()
    assert decide(production, asset_class="paid", ref="first").outcome == policy.Outcome.ADMIT

    decision = decide(production, asset_class="paid", ref="second")

    assert decision.outcome == policy.Outcome.DEFER
    assert decision.tier == production
    assert decision.defer_until == policy.budget_reset_at()
    assert decision.defer_until.astimezone(UTC).time() == datetime.min.time()
    assert "budget for today is spent" in decision.reason and "resets at" in decision.reason
    assert not Reservation.objects.filter(ref="second").exists()


def test_admission_refuses_when_tier_says_so(production):
    production.daily_budget_usd = Decimal("0.10")
    production.when_spent = WhenSpent.REFUSE
    production.degrade_to = None
    production.save()
    decide(production, ref="first")

    decision = decide(production, ref="second")

    assert decision.outcome == policy.Outcome.REFUSE
    assert decision.reason.startswith("Refused: Production's budget for today is spent")


def test_admission_refuses_a_job_dearer_than_the_whole_day(production):
    production.daily_budget_usd = Decimal("0.05")
    production.degrade_to = None
    production.save()

    decision = decide(production, asset_class="paid")

    assert decision.outcome == policy.Outcome.REFUSE
    assert "more than Production's whole daily budget of $0.05" in decision.reason


def test_admission_defers_when_queue_wait_far_exceeds_latency_budget(production):
    decision = decide(production, queue_depth=100, throughput_per_s=2.0)  # 50 s of queue vs 2.2 s

    assert decision.outcome == policy.Outcome.DEFER
    assert "queue is 100 deep" in decision.reason
    assert decision.defer_until is not None
    assert not Reservation.objects.exists()


def test_admission_counts_the_final_queue_of_an_auto_final_tier(production):
    # previews flow (1 s) but finals are backed up (20 s): together far over 4 × 2.2 s
    decision = decide(
        production, queue_depth=10, throughput_per_s=10.0, final_queue_depth=40, final_throughput_per_s=2.0
    )

    assert decision.outcome == policy.Outcome.DEFER
    assert "queue is 10 + 40 deep (about 21 s of work" in decision.reason


def test_admission_inputs_measure_the_final_queue_for_auto_final_tiers(production, preview_tier, cover, editor):
    from apps.renders.models import Stage

    job = job_submit(submitted_by=editor, template=cover, texts={"title": "Q"}, with_preview=False)
    assert job.attempts.get().stage == Stage.FINAL

    production_inputs = admission_inputs(tier=production)
    preview_inputs = admission_inputs(tier=preview_tier)

    assert production_inputs["final_queue_depth"] == 1  # the queued final above
    assert "final_queue_depth" not in preview_inputs  # the preview tier has no automatic final


def test_admission_inputs_measure_a_queue_rate_only_while_attempts_wait(
    production, cover, editor, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=False):
        for i in range(6):
            job_submit(submitted_by=editor, template=cover, texts={"title": f"Done {i}"}, with_preview=False)
    RenderAttempt.objects.update(status=AttemptStatus.PASSED, finished_at=timezone.now() - timedelta(seconds=10))

    idle = admission_inputs(tier=production)
    with django_capture_on_commit_callbacks(execute=False):
        job_submit(submitted_by=editor, template=cover, texts={"title": "Waiting"}, with_preview=False)
    busy = admission_inputs(tier=production)

    # Nobody waits: no wait is predicted whatever the rate, so the last minute is not read.
    assert (idle["final_queue_depth"], idle["final_throughput_per_s"]) == (0, None)
    assert busy["final_queue_depth"] == 1
    assert busy["final_throughput_per_s"] == pytest.approx(6 / 10, rel=0.2)  # 6 finished over 10 s


def test_admission_admits_with_note_when_wait_slightly_over_budget(production):
    decision = decide(production, queue_depth=6, throughput_per_s=2.0)  # 3 s vs 2.2 s

    assert decision.outcome == policy.Outcome.ADMIT
    assert "over the tier's 2.2 s latency budget" in decision.reason


def test_admission_must_not_degrade_is_admitted_despite_deep_queue(production):
    decision = decide(production, asset_class="paid", queue_depth=100, throughput_per_s=2.0)

    assert decision.outcome == policy.Outcome.ADMIT


def test_escalation_walks_the_ladder_and_reserves_each_step(production):
    decide(production, ref="j")
    steps = [
        policy.escalation_next(
            tier=production, attempts_made=2, last_guidance=0, verdict_reasons=["title misspelt"], ref="j"
        )
        for _ in range(4)
    ]

    assert [s.step for s in steps] == ["guidance", "engine", "composite", "review"]
    assert steps[0].guidance == 1 and steps[0].new_seed
    assert steps[1].engine.slug == "builtin-typography"
    assert "title misspelt" in steps[0].reason
    # guidance 0.06 (ultra) + specialist 0.08 + composite 0.06 on top of the 0.10 admission
    assert Reservation.objects.get(ref="j").amount_usd == Decimal("0.3000")


def test_escalation_skips_a_ladder_engine_that_was_disabled(production):
    Engine.objects.filter(slug="builtin-typography").update(enabled=False)
    decide(production, ref="j")
    policy.escalation_next(tier=production, attempts_made=2, last_guidance=0, verdict_reasons=[], ref="j")

    step = policy.escalation_next(tier=production, attempts_made=3, last_guidance=1, verdict_reasons=[], ref="j")

    assert step.step == "composite"


def test_escalation_goes_to_review_when_budget_cannot_hold_another_attempt(production):
    production.daily_budget_usd = Decimal("0.10")
    production.save()
    decide(production, asset_class="paid", ref="j")

    step = policy.escalation_next(tier=production, attempts_made=2, last_guidance=0, verdict_reasons=[], ref="j")

    assert step.step == "review"
    assert "cannot hold another attempt" in step.reason


def test_escalation_stops_at_max_attempts(production):
    step = policy.escalation_next(tier=production, attempts_made=5, last_guidance=2, verdict_reasons=[])

    assert step.step == "review"


def test_job_submit_stores_deferred_reason_and_time(production, cover, editor):
    production.daily_budget_usd = Decimal("0.10")
    production.save()
    job_submit(submitted_by=editor, template=cover, texts={"title": "First"}, asset_class="paid")

    job = job_submit(submitted_by=editor, template=cover, texts={"title": "Late"}, asset_class="paid")

    assert job.status == JobStatus.DEFERRED
    assert job.admission == "deferred"
    assert job.defer_until == policy.budget_reset_at()
    assert "resets at" in job.admission_reason


def test_preview_hedge_starts_fallback_preview_and_loser_is_cancelled(
    production, cover, editor, django_capture_on_commit_callbacks
):
    production.verify_ocr = False
    production.save()
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        job = job_submit(submitted_by=editor, template=cover, texts={"title": "Hedge"}, seed=3)
    assert len(callbacks) == 1
    first = job.attempts.get()
    long_ago = timezone.now() - timedelta(seconds=5)
    RenderAttempt.objects.filter(pk=first.pk).update(status=AttemptStatus.RUNNING, started_at=long_ago)

    with django_capture_on_commit_callbacks(execute=False):
        hedge = preview_hedge(attempt_id=first.pk)
        again = preview_hedge(attempt_id=first.pk)
    assert hedge is not None and hedge.step == "hedge" and again is None
    RenderAttempt.objects.filter(pk=first.pk).update(status=AttemptStatus.QUEUED)  # as if it never reached the engine
    with django_capture_on_commit_callbacks(execute=False):
        attempt_run(attempt_id=hedge.pk)  # the hedge answers first
    job.refresh_from_db()
    assert job.status == JobStatus.RENDERING  # preview ready, auto-final started
    first.refresh_from_db()
    assert first.status == AttemptStatus.CANCELLED  # never reached the engine
    attempt_run(attempt_id=first.pk)
    first.refresh_from_db()
    assert first.status == AttemptStatus.CANCELLED and first.cost_usd == 0
    # 0.10 held at admission + 0.04 for the hedge; the hedge's 0.04 is spent the moment it is billed.
    reservation = Reservation.objects.get(ref=str(job.public_id))
    assert (reservation.amount_usd, reservation.actual_usd) == (Decimal("0.1000"), Decimal("0.0400"))


def test_preview_hedge_is_scheduled_when_the_engine_call_starts_not_while_queued(
    production, cover, editor, monkeypatch, django_capture_on_commit_callbacks
):
    scheduled = []
    monkeypatch.setattr(enqueue, "preview_hedge", lambda attempt, countdown=None: scheduled.append(countdown))
    with django_capture_on_commit_callbacks(execute=False):
        job = job_submit(submitted_by=editor, template=cover, texts={"title": "Queued"}, seed=5)
    first = job.attempts.get()

    assert preview_hedge(attempt_id=first.pk) is None  # still queued: nothing to hedge
    assert scheduled == []
    with django_capture_on_commit_callbacks(execute=False):
        attempt_run(attempt_id=first.pk)

    assert scheduled == [None]  # one latency budget after the call started
    assert job.attempts.count() == 1


def test_preview_hedge_running_less_than_budget_looks_again_later(production, cover, editor, monkeypatch):
    scheduled = []
    monkeypatch.setattr(enqueue, "preview_hedge", lambda attempt, countdown=None: scheduled.append(countdown))
    job = job_submit(submitted_by=editor, template=cover, texts={"title": "Early"}, seed=6)
    first = job.attempts.get()
    RenderAttempt.objects.filter(pk=first.pk).update(
        status=AttemptStatus.RUNNING, started_at=timezone.now() - timedelta(seconds=1)
    )

    assert preview_hedge(attempt_id=first.pk) is None

    assert len(scheduled) == 1 and 1.0 < scheduled[0] < 1.3  # the rest of the 2.2 s budget


def test_preview_hedge_a_late_answer_is_cancelled_but_its_cost_counts(
    production, cover, editor, django_capture_on_commit_callbacks
):
    production.verify_ocr = False
    production.auto_final = False
    production.save()
    with django_capture_on_commit_callbacks(execute=False):
        job = job_submit(submitted_by=editor, template=cover, texts={"title": "Race"}, seed=4)
    first = job.attempts.get()
    long_ago = timezone.now() - timedelta(seconds=5)
    RenderAttempt.objects.filter(pk=first.pk).update(status=AttemptStatus.RUNNING, started_at=long_ago)
    with django_capture_on_commit_callbacks(execute=False):
        hedge = preview_hedge(attempt_id=first.pk)
        attempt_run(attempt_id=hedge.pk)
    RenderAttempt.objects.filter(pk=first.pk).update(status=AttemptStatus.QUEUED)

    attempt_run(attempt_id=first.pk)  # the slow one answers after all

    first.refresh_from_db()
    assert first.status == AttemptStatus.CANCELLED
    assert first.cost_usd == Decimal("0.0400")
    job.refresh_from_db()
    assert job.status == JobStatus.PREVIEW_READY


def test_failed_final_verification_escalates_along_the_tier_ladder(
    production, cover, editor, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=False):
        job = job_submit(submitted_by=editor, template=cover, texts={"title": "Ladder"}, seed=9, with_preview=False)
    final = job.attempts.get()
    RenderAttempt.objects.filter(pk=final.pk).update(status=AttemptStatus.VERIFYING)

    steps = []
    for _ in range(3):
        with django_capture_on_commit_callbacks(execute=False):
            attempt_conclude(final, status=AttemptStatus.FAILED)
        final = job.attempts.order_by("-number").first()
        steps.append((final.step, final.engine.slug, final.guidance))

    assert steps == [
        ("guidance", "builtin-ultra", 1),
        ("engine", "builtin-typography", 1),
        ("composite", "builtin-typography", 1),  # composites over the last engine's image
    ]
    # 0.06 admission (no preview) + 0.06 + 0.08 + 0.08 held before each step ran
    assert Reservation.objects.get(ref=str(job.public_id)).amount_usd == Decimal("0.2800")
    with django_capture_on_commit_callbacks(execute=False):
        attempt_conclude(final, status=AttemptStatus.FAILED)
    job.refresh_from_db()
    assert job.status == JobStatus.NEEDS_REVIEW
    assert "ladder ends in moderation" in job.status_reason


def test_team_budget_caps_one_team_while_others_still_fit(production, editor):
    from django.contrib.auth.models import Group

    from apps.policy.models import TeamBudget

    TeamBudget.objects.create(tier=production, team="design", daily_budget_usd=Decimal("0.20"))
    editor.groups.add(Group.objects.create(name="design"))
    team = policy.team_for_user(user=editor)
    decisions = [decide(production, ref=f"d{i}", team=team) for i in range(3)]
    other = decide(production, ref="o1", team="news")

    assert team == "design"
    assert [d.outcome for d in decisions] == ["admitted", "admitted", "deferred"]
    assert decisions[2].reason.startswith("Deferred: The design team's Production budget for today is spent")
    assert other.outcome == policy.Outcome.ADMIT
    tier_row = policy.ledger_for(tier=production)
    team_row = policy.ledger_for(tier=production, team="design")
    assert (tier_row.reserved_usd, team_row.reserved_usd) == (Decimal("0.3000"), Decimal("0.2000"))

    policy.budget_settle(ref="d0", actual_usd=Decimal("0.05"))

    tier_row.refresh_from_db()
    team_row.refresh_from_db()
    assert (team_row.spent_usd, team_row.reserved_usd) == (Decimal("0.0500"), Decimal("0.1000"))
    assert (tier_row.spent_usd, tier_row.reserved_usd) == (Decimal("0.0500"), Decimal("0.2000"))


def test_team_budget_extend_needs_room_on_both_rows_or_holds_nothing(production):
    from apps.policy.models import TeamBudget

    TeamBudget.objects.create(tier=production, team="design", daily_budget_usd=Decimal("0.15"))
    decide(production, ref="d", team="design")

    assert policy.budget_extend(ref="d", amount_usd=Decimal("0.06")) is False

    assert policy.ledger_for(tier=production).reserved_usd == Decimal("0.1000")  # tier row rolled back too
    assert policy.ledger_for(tier=production, team="design").reserved_usd == Decimal("0.1000")


def test_jobs_release_deferred_degraded_job_follows_the_new_tiers_auto_final(
    production, preview_tier, cover, editor, django_capture_on_commit_callbacks
):
    production.daily_budget_usd = Decimal("0.10")
    production.save()
    job_submit(submitted_by=editor, template=cover, texts={"title": "First"}, asset_class="paid")
    job = job_submit(submitted_by=editor, template=cover, texts={"title": "Late"}, asset_class="paid")
    assert job.status == JobStatus.DEFERRED and job.auto_final is True
    # Now a class that may degrade (as a job the latency check deferred), and its time has come.
    type(job).objects.filter(pk=job.pk).update(asset_class="editorial", defer_until=timezone.now())

    with django_capture_on_commit_callbacks(execute=False):
        started = jobs_release_deferred()

    job.refresh_from_db()
    assert started == 1
    assert (job.admission, job.tier, job.status) == ("degraded", preview_tier, JobStatus.PREVIEWING)
    assert job.auto_final is False


def test_jobs_release_deferred_one_failing_job_does_not_hold_back_the_rest(
    production, cover, editor, monkeypatch, django_capture_on_commit_callbacks
):
    production.daily_budget_usd = Decimal("0.10")
    production.save()
    job_submit(submitted_by=editor, template=cover, texts={"title": "First"}, asset_class="paid")
    stuck = job_submit(submitted_by=editor, template=cover, texts={"title": "Stuck"}, asset_class="paid")
    due = job_submit(submitted_by=editor, template=cover, texts={"title": "Due"}, asset_class="paid")
    type(stuck).objects.filter(pk__in=[stuck.pk, due.pk]).update(defer_until=timezone.now())
    production.daily_budget_usd = Decimal("100")
    production.save()
    policy.ledger_sync_limit(tier=production)
    real_decide = sweeper.job_admission_decide

    def decide_or_explode(job, **kwargs):  # type: ignore[no-untyped-def]
        if job.pk == stuck.pk:
            raise RuntimeError("a bug in one job's admission")
        return real_decide(job, **kwargs)

    monkeypatch.setattr(sweeper, "job_admission_decide", decide_or_explode)

    with django_capture_on_commit_callbacks(execute=False):
        started = jobs_release_deferred()

    stuck.refresh_from_db()
    due.refresh_from_db()
    assert started == 1
    assert (stuck.status, due.status) == (JobStatus.DEFERRED, JobStatus.PREVIEWING)


def test_jobs_release_deferred_starts_budget_deferrals_today_once_an_admin_raises_the_limit(
    production, cover, editor, django_capture_on_commit_callbacks
):
    production.daily_budget_usd = Decimal("0.10")
    production.save()
    with django_capture_on_commit_callbacks(execute=False):
        job_submit(submitted_by=editor, template=cover, texts={"title": "First"}, asset_class="paid")
        waiting = job_submit(submitted_by=editor, template=cover, texts={"title": "Second"}, asset_class="paid")
        also = job_submit(submitted_by=editor, template=cover, texts={"title": "Third"}, asset_class="paid")
    assert waiting.defer_until == policy.budget_reset_at()  # tomorrow
    production.daily_budget_usd = Decimal("0.20")  # room for one more today
    production.save()
    policy.ledger_sync_limit(tier=production)

    with django_capture_on_commit_callbacks(execute=False):
        started = jobs_release_deferred()

    waiting.refresh_from_db()
    also.refresh_from_db()
    assert started == 1
    assert (waiting.status, also.status) == (JobStatus.PREVIEWING, JobStatus.DEFERRED)
    assert also.defer_until == policy.budget_reset_at()


def test_budget_book_keeps_what_was_spent_and_frees_the_rest_of_the_hold(production):
    from apps.policy.services import budget_book, budget_extend, budget_reserve, budget_settle, ledger_for

    assert budget_reserve(tier=production, ref="job-b", amount_usd=Decimal("0.10"))

    assert budget_book(ref="job-b", spent_usd=Decimal("0.04"))
    ledger = ledger_for(tier=production)
    assert (ledger.spent_usd, ledger.reserved_usd) == (Decimal("0.04"), Decimal("0"))

    assert budget_extend(ref="job-b", amount_usd=Decimal("0.06"))
    assert budget_settle(ref="job-b", actual_usd=Decimal("0.10"))
    ledger.refresh_from_db()
    assert (ledger.spent_usd, ledger.reserved_usd) == (Decimal("0.10"), Decimal("0"))


def test_admission_defers_when_the_verification_queue_cannot_keep_up(production):
    # renders flow (no render queue) but 120 images wait for OCR at 2 a second: 60 s vs 2.2 s
    decision = decide(
        production, queue_depth=0, throughput_per_s=10.0, verify_queue_depth=120, verify_throughput_per_s=2.0
    )

    assert decision.outcome == policy.Outcome.DEFER
    assert "the verification queue 120 deep (OCR at 2.0 images/s: about 60 s)" in decision.reason
    assert decision.defer_until is not None
    assert not Reservation.objects.exists()


def test_admission_notes_a_verification_wait_slightly_over_budget(production):
    decision = decide(production, verify_queue_depth=6, verify_throughput_per_s=2.0)  # 3 s vs 2.2 s

    assert decision.outcome == policy.Outcome.ADMIT
    assert "verification queue 6 deep" in decision.reason


def _verification_backlog(*, cover, editor, jobs: int, ocr_seconds: float) -> None:  # type: ignore[no-untyped-def]
    """`jobs` previews rendered and waiting for the gate; the gate's latest results took
    `ocr_seconds` each (too few in the last minute to measure a rate from)."""
    from apps.verification.models import VerificationResult

    for i in range(jobs):
        job_submit(submitted_by=editor, template=cover, texts={"title": f"Backlog {i}"})
    RenderAttempt.objects.update(status=AttemptStatus.VERIFYING)
    VerificationResult.objects.bulk_create(
        [VerificationResult(expected={}, verdict="pass", seconds=ocr_seconds) for _ in range(3)]
    )


def test_admission_inputs_measure_the_verification_queue_and_the_ocr_rate(
    production, cover, editor, settings, django_capture_on_commit_callbacks
):
    settings.RENDERHUB_VERIFY_CONCURRENCY = 2
    with django_capture_on_commit_callbacks(execute=False):
        _verification_backlog(cover=cover, editor=editor, jobs=3, ocr_seconds=0.5)

    inputs = admission_inputs(tier=production)

    assert inputs["verify_queue_depth"] == 3
    assert inputs["verify_throughput_per_s"] == pytest.approx(4.0)  # 2 processes ÷ 0.5 s


def test_job_submit_deferred_when_previews_cannot_be_verified_within_the_budget(
    client, production, cover, editor, settings, django_capture_on_commit_callbacks
):
    # 20 images ahead at 1 image/s of OCR: 20 s against the production tier's 2.2 s budget
    settings.RENDERHUB_VERIFY_CONCURRENCY = 1
    with django_capture_on_commit_callbacks(execute=False):
        _verification_backlog(cover=cover, editor=editor, jobs=20, ocr_seconds=1.0)
        job = job_submit(submitted_by=editor, template=cover, texts={"title": "One more"})

    assert (job.status, job.admission) == (JobStatus.DEFERRED, "deferred")
    assert "the verification queue 20 deep (OCR at 1.0 images/s: about 20 s)" in job.admission_reason
    client.force_login(editor)
    page = client.get(f"/renders/{job.public_id}/")
    assert "the verification queue 20 deep" in page.content.decode()


def test_admission_deferred_by_the_queue_carries_the_real_estimate(production):
    """A job deferred by the latency check will cost when it runs: never $0 (it showed "estimated $0.00")."""
    decision = decide(production, queue_depth=100, throughput_per_s=2.0)

    assert decision.outcome == policy.Outcome.DEFER
    assert decision.estimate_usd == Decimal("0.1000")  # 0.04 preview + 1 × 0.06 final, as admitted
    assert "estimated $0.10, held when it starts" in decision.reason


def test_escalation_at_the_limit_says_it_counted_final_attempts(production):
    """A preview and two finals read "after 2 attempt(s)" on the review page: say what was counted."""
    production.max_attempts = 2
    production.save()

    step = policy.escalation_next(tier=production, attempts_made=2, last_guidance=0, verdict_reasons=["SALE read SAE"])

    assert step.step == "review"
    assert step.reason == (
        "Still failing after 2 final attempts, Production's limit of 2 (a preview is not counted) "
        "(SALE read SAE); sent to moderation."
    )


def test_preview_hedge_that_loses_the_race_to_the_preview_holds_nothing_and_raises_nothing(
    production, cover, editor, monkeypatch, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=False):
        job = job_submit(submitted_by=editor, template=cover, texts={"title": "Photo finish"}, seed=8)
    first = job.attempts.get()
    long_ago = timezone.now() - timedelta(seconds=5)
    RenderAttempt.objects.filter(pk=first.pk).update(status=AttemptStatus.RUNNING, started_at=long_ago)
    held_before = Reservation.objects.get(ref=str(job.public_id)).amount_usd
    extend = policy.budget_extend

    def preview_concludes_meanwhile(**kw):  # type: ignore[no-untyped-def]
        # The preview's own worker moves the job on between the hedge's check and its start.
        type(job).objects.filter(pk=job.pk).update(status=JobStatus.PREVIEW_READY)
        return extend(**kw)

    monkeypatch.setattr(policy, "budget_extend", preview_concludes_meanwhile)
    with django_capture_on_commit_callbacks(execute=False):
        assert preview_hedge(attempt_id=first.pk) is None

    assert job.attempts.count() == 1
    assert Reservation.objects.get(ref=str(job.public_id)).amount_usd == held_before
