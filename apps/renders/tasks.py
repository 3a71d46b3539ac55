"""Celery is one more interface to the pipeline: each task is one service call."""

import logging
import time

from celery import shared_task
from celery.signals import worker_process_init, worker_ready
from django.db import InterfaceError, OperationalError

from apps.core.sweep_runs import sweep_run_record
from apps.renders import idempotency
from apps.renders.pipeline import hedging, outcome, run, sweeper

# A task that lost its database connection (a PostgreSQL restart) is tried again with
# backoff, 1, 2, 4 … 30 s, for about five minutes; the connection is replaced before each
# try (renderhub/celery.py). Every task is idempotent by state, so a retry does no harm.
DB_RETRY = {
    "autoretry_for": (OperationalError, InterfaceError),
    "retry_backoff": 1,
    "retry_backoff_max": 30,
    "retry_jitter": True,
    "max_retries": 12,
}


@shared_task(name="renders.run_attempt", **DB_RETRY)
def run_attempt(*, attempt_id: int) -> None:
    """Engine I/O: call the engine for a queued attempt (no-op unless it is still QUEUED)."""
    run.attempt_run(attempt_id=attempt_id)


@shared_task(name="renders.verify_attempt", **DB_RETRY)
def verify_attempt(*, attempt_id: int) -> None:
    """CPU: run the verification gate (no-op unless the attempt awaits verification)."""
    outcome.attempt_verify(attempt_id=attempt_id)


@shared_task(name="renders.sweep_stuck")
def sweep_stuck() -> dict[str, int]:
    """Periodic: recover attempts whose message or worker was lost (each run is recorded for
    the queues page)."""
    from django.conf import settings

    return sweep_run_record(
        task="renders.sweep_stuck",
        run=lambda: sweeper.sweep_stuck(queued_after_s=settings.RENDERHUB_REQUEUE_AFTER_S),
    )


@shared_task(name="renders.sweep_after_worker_crash")
def sweep_after_worker_crash() -> dict[str, int]:
    """Sent by run_embedded when its worker died: resend at once what that worker held."""
    return sweep_run_record(task="renders.sweep_stuck", run=sweeper.sweep_after_worker_crash)


@shared_task(name="renders.release_deferred")
def release_deferred() -> int:
    """Periodic: start deferred jobs whose time has come."""
    return sweeper.jobs_release_deferred()


@shared_task(name="renders.purge_idempotency_keys")
def purge_idempotency_keys() -> int:
    """Periodic: forget expired Idempotency-Keys and retry fingerprints."""
    return idempotency.idempotency_purge()


@shared_task(name="renders.hedge_preview", **DB_RETRY)
def hedge_preview(*, attempt_id: int) -> None:
    """Delayed by the tier's latency budget: hedge a preview that has not answered yet."""
    hedging.preview_hedge(attempt_id=attempt_id)


def _consumes_verify_queue() -> bool:
    from celery import current_app
    from django.conf import settings

    consumed = current_app.amqp.queues.consume_from or {}
    queues = settings.RENDERHUB_QUEUES
    return bool({queues["verify"], queues["verify_preview"]} & set(consumed))


@worker_ready.connect
def warm_ocr_in_worker(sender: object = None, **_: object) -> None:
    """Thread and solo pools run tasks in the main process: warm it (prefork warms each child)."""
    pool = getattr(sender, "pool", None)
    if pool is not None and "prefork" not in type(pool).__module__:
        warm_ocr()


@worker_process_init.connect
def warm_ocr(**_: object) -> None:
    """Load the OCR models when a verification worker (or prefork child) starts, so the first
    render it verifies does not pay the 0.3–1.4 s model load inside the preview's budget."""
    if not _consumes_verify_queue():
        return
    from apps.verification.ocr import ocr_warm

    started = time.perf_counter()
    try:
        ocr_warm()
        logging.getLogger(__name__).info("OCR warmed up in %.2f s", time.perf_counter() - started)
    except Exception:  # warming is an optimisation; verification reports real errors later
        logging.getLogger(__name__).exception("OCR warm-up failed")
