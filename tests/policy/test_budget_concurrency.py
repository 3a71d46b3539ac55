"""The budget never overruns: concurrent submissions on real PostgreSQL, and workers killed
mid-job (research/reliability.md §2). Run through `make test` (PostgreSQL + Redis)."""

import os
import signal
import threading
import time
from decimal import Decimal

import pytest
from django.conf import settings
from django.core.management import call_command
from django.db import connection
from django.db.models import Sum

from apps.policy.models import BudgetLedger, Reservation, ReservationState, WhenSpent
from apps.renders.models import AttemptStatus, JobStatus, RenderAttempt, RenderJob
from apps.renders.pipeline.submit import job_submit
from apps.renders.pipeline.sweeper import sweep_stuck
from tests.conftest import _test_database_url, start_worker, wait_for

THREADS = 40
ROUNDS = 5  # THREADS × ROUNDS = 200 submissions; 40 connections stay under max_connections
JOB_ESTIMATE = Decimal("0.10")  # builtin-turbo preview 0.04 + 1 × builtin-ultra final 0.06


def _need_postgres() -> None:
    if connection.vendor != "postgresql":
        pytest.fail("The budget proof needs PostgreSQL: run it through `make test`.")


def submit_concurrently(*, template, user, asset_class: str, users=None) -> list[str]:  # type: ignore[no-untyped-def]
    """THREADS threads, each with its own connection, released together by a barrier each round
    (thread i submits as users[i % len(users)] when given)."""
    barrier = threading.Barrier(THREADS)
    errors: list[str] = []

    def work(i: int) -> None:
        try:
            for n in range(ROUNDS):
                barrier.wait(timeout=60)
                job_submit(
                    submitted_by=users[i % len(users)] if users else user,
                    template=template,
                    texts={"title": f"Budget {i}-{n}"},
                    asset_class=asset_class,
                    seed=i * 100 + n,
                )
        except Exception as exc:
            errors.append(f"thread {i}: {exc!r}")
            barrier.abort()
        finally:
            connection.close()

    threads = [threading.Thread(target=work, args=(i,)) for i in range(THREADS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return errors


def assert_ledger_consistent(tier) -> BudgetLedger:  # type: ignore[no-untyped-def]
    """The invariants after any chaos run: within the limit, the ledger equals the sum of its
    reservations (held amounts in `reserved`, every billed cost in `spent`), and
    `manage.py budget reconcile` finds the ledger equal to the attempts."""
    ledger = BudgetLedger.objects.get(tier=tier, team="")
    assert ledger.spent_usd + ledger.reserved_usd <= ledger.limit_usd
    held = Reservation.objects.filter(ledger=ledger, state=ReservationState.HELD)
    assert ledger.reserved_usd == (held.aggregate(s=Sum("amount_usd"))["s"] or 0)
    assert ledger.spent_usd == (Reservation.objects.filter(ledger=ledger).aggregate(s=Sum("actual_usd"))["s"] or 0)
    call_command("budget", "reconcile")  # raises CommandError, printing the differences, if any
    return ledger


@pytest.fixture
def tight_budget(production):  # type: ignore[no-untyped-def]
    """Production fits exactly 50 jobs today; nothing degrades, a full day refuses."""
    production.daily_budget_usd = JOB_ESTIMATE * 50
    production.degrade_to = None
    production.when_spent = WhenSpent.REFUSE
    production.verify_ocr = False
    production.max_latency_ms = 600_000  # about money: no job is deferred for queue depth
    production.save()
    return production


@pytest.mark.django_db(transaction=True)
def test_budget_200_concurrent_submissions_never_overrun(kill_queues, tight_budget, cover, editor):
    _need_postgres()

    errors = submit_concurrently(template=cover, user=editor, asset_class="editorial")

    assert errors == []
    jobs = RenderJob.objects.all()
    assert jobs.count() == THREADS * ROUNDS
    admitted = jobs.filter(admission="admitted")
    refused = jobs.filter(admission="refused")
    assert admitted.count() == 50
    assert refused.count() == 150
    assert set(refused.values_list("status", flat=True)) == {JobStatus.REFUSED}
    assert all("budget for today is spent" in r for r in refused.values_list("admission_reason", flat=True))
    ledger = assert_ledger_consistent(tight_budget)
    # Live workers may already have finished some admitted jobs (settled at their estimate).
    assert ledger.spent_usd + ledger.reserved_usd == ledger.limit_usd == Decimal("5.0000")
    assert Reservation.objects.count() == 50
    print(
        f"\nadmitted={admitted.count()} refused={refused.count()} "
        f"spent+reserved={ledger.spent_usd + ledger.reserved_usd} limit={ledger.limit_usd}"
    )


class LedgerWatch(threading.Thread):
    """Reads the tier's ledger row every 20 ms on its own connection; keeps the peak of
    spent + reserved, i.e. what any committed state ever held against the limit."""

    def __init__(self, *, tier) -> None:  # type: ignore[no-untyped-def]
        super().__init__(daemon=True)
        self.tier_id, self.peak, self.samples = tier.pk, Decimal("0"), 0
        self._stop_event = threading.Event()

    def run(self) -> None:
        try:
            while not self._stop_event.is_set():
                row = BudgetLedger.objects.get(tier_id=self.tier_id, team="")
                self.peak = max(self.peak, row.spent_usd + row.reserved_usd)
                self.samples += 1
                time.sleep(0.02)
        finally:
            connection.close()

    def stop(self) -> None:
        self._stop_event.set()
        self.join()


@pytest.fixture
def kill_queues(tight_budget, preview_tier):  # type: ignore[no-untyped-def]
    """Jobs of these tests go to queues no other worker consumes (not even the session's
    `celery_workers`), so nothing runs unless the test starts a worker, which it may kill."""
    queues = ["test.kill.preview", "test.kill.final"]
    for tier in (tight_budget, preview_tier):
        tier.preview_queue, tier.final_queue = queues
        tier.hedge_previews = False
        tier.max_latency_ms = 600_000  # this test is about money: no job is deferred for queue depth
        tier.save()
    import redis

    redis.Redis.from_url(settings.CELERY_BROKER_URL).delete(*queues)
    return queues


@pytest.mark.django_db(transaction=True)
def test_budget_consistent_after_workers_killed_mid_job(kill_queues, tight_budget, cover, editor, tmp_path):
    _need_postgres()
    env = {
        **os.environ,
        "DATABASE_URL": _test_database_url(),
        "CELERY_BROKER_URL": settings.CELERY_BROKER_URL,
        "RENDERHUB_VAR_DIR": str(settings.VAR_DIR),
        "RENDERHUB_BUILTIN_LATENCY_SCALE": "1.0",  # engine calls take 0.3–1.5 s: time to kill them
        "RENDERHUB_LEASE_S": "1",  # the killed worker's leases run out a second after the kill
    }
    worker = start_worker("doomed", kill_queues, "threads", 8, env, tmp_path)
    try:
        errors = submit_concurrently(template=cover, user=editor, asset_class="editorial")
        assert errors == []
        # Wait until engine calls are in flight, then kill the worker process outright.
        wait_for(lambda: RenderAttempt.objects.filter(status=AttemptStatus.RUNNING).count() >= 4, timeout=60)
        os.kill(worker.pid, signal.SIGKILL)
        worker.wait(timeout=10)
    finally:
        if worker.poll() is None:
            worker.kill()
    running = RenderAttempt.objects.filter(status=AttemptStatus.RUNNING).count()
    assert running >= 4
    assert_ledger_consistent(tight_budget)

    # The sweeper finds the dead attempts (no live worker runs them any more): they fail,
    # their jobs finish and settle; lost queued messages are sent again.
    time.sleep(1.5)
    swept = sweep_stuck(queued_after_s=0, running_after_s=1)
    assert swept["lost"] == running
    # (the verify queue too: an attempt killed between storing its image and concluding is
    # re-sent to verification by the sweeper)
    survivor = start_worker(
        "survivor",
        [*kill_queues, settings.RENDERHUB_QUEUES["verify"], settings.RENDERHUB_QUEUES["verify_preview"]],
        "threads",
        8,
        {**env, "RENDERHUB_BUILTIN_LATENCY_SCALE": "0.05"},
        tmp_path,
    )
    watch = LedgerWatch(tier=tight_budget)
    watch.start()
    try:
        settled = {JobStatus.DELIVERED, JobStatus.FAILED, JobStatus.REFUSED, JobStatus.NEEDS_REVIEW}
        try:
            wait_for(lambda: not RenderJob.objects.exclude(status__in=settled).exists(), timeout=60, interval=0.5)
        except AssertionError:
            left = RenderJob.objects.exclude(status__in=settled)
            detail = [(j.status, [(a.stage, a.status, a.step) for a in j.attempts.all()]) for j in left[:5]]
            raise AssertionError(f"{left.count()} jobs unfinished, e.g. {detail}") from None
    finally:
        survivor.terminate()
        survivor.wait(timeout=20)
        watch.stop()
    # While the survivor settled and re-rendered, no committed state ever passed the limit.
    assert watch.samples > 10
    assert watch.peak <= tight_budget.daily_budget_usd

    ledger = assert_ledger_consistent(tight_budget)
    assert RenderAttempt.objects.filter(error_kind="worker_lost").count() == running
    # Each killed attempt was retried once, on the same stage's engine.
    for lost in RenderAttempt.objects.filter(error_kind="worker_lost"):
        retry = RenderAttempt.objects.get(job=lost.job, number=lost.number + 1)
        assert (retry.stage, retry.engine_id, retry.step) == (lost.stage, lost.engine_id, "lost")
    # Every finished job's reservation was closed exactly once, at the job's actual cost.
    for job in RenderJob.objects.filter(status__in=[JobStatus.DELIVERED, JobStatus.FAILED]):
        r = Reservation.objects.get(ref=str(job.public_id))
        assert r.state == ReservationState.SETTLED
        assert r.actual_usd == job.actual_cost_usd
    assert RenderJob.objects.filter(admission="admitted").count() == 50
    refused = RenderJob.objects.filter(admission="refused")
    assert refused.count() == 150
    assert all("budget for today is spent" in r for r in refused.values_list("admission_reason", flat=True))
    print(
        f"\nkilled mid-job={running} peak spent+reserved={watch.peak} spent={ledger.spent_usd} "
        f"reserved={ledger.reserved_usd} limit={ledger.limit_usd}"
    )


@pytest.mark.django_db(transaction=True)
def test_team_budget_200_concurrent_submissions_never_overrun_either_row(kill_queues, tight_budget, cover):
    _need_postgres()
    from django.contrib.auth.models import Group

    from apps.policy.models import TeamBudget
    from tests.factories import UserFactory

    TeamBudget.objects.create(tier=tight_budget, team="design", daily_budget_usd=JOB_ESTIMATE * 10)
    design = UserFactory(role="editor")
    design.groups.add(Group.objects.create(name="design"))
    news = UserFactory(role="editor")

    errors = submit_concurrently(template=cover, user=None, asset_class="editorial", users=[design, news])

    assert errors == []
    admitted = RenderJob.objects.filter(admission="admitted")
    assert admitted.filter(submitted_by=design).count() == 10
    assert admitted.filter(submitted_by=news).count() == 40
    assert_ledger_consistent(tight_budget)
    team_row = BudgetLedger.objects.get(tier=tight_budget, team="design")
    assert team_row.reserved_usd == team_row.limit_usd == Decimal("1.0000")
    reasons = RenderJob.objects.filter(admission="refused").values_list("admission_reason", flat=True)
    assert len(reasons) == 150
    assert all("budget for today is spent" in r for r in reasons)
    assert any("The design team's Production budget" in r for r in reasons)
