"""Celery is one more interface to the pipeline: each task is one service call."""

from celery import shared_task

from apps.renders import services


@shared_task(name="renders.run_attempt")
def run_attempt(*, attempt_id: int) -> None:
    """Engine I/O: call the engine for a queued attempt (no-op unless it is still QUEUED)."""
    services.attempt_run(attempt_id=attempt_id)


@shared_task(name="renders.verify_attempt")
def verify_attempt(*, attempt_id: int) -> None:
    """CPU: run the verification gate (no-op unless the attempt awaits verification)."""
    services.attempt_verify(attempt_id=attempt_id)


@shared_task(name="renders.sweep_stuck")
def sweep_stuck() -> dict[str, int]:
    """Periodic: recover attempts whose message or worker was lost."""
    return services.sweep_stuck()


@shared_task(name="renders.release_deferred")
def release_deferred() -> int:
    """Periodic: start deferred jobs whose time has come."""
    return services.jobs_release_deferred()


@shared_task(name="renders.hedge_preview")
def hedge_preview(*, attempt_id: int) -> None:
    """Delayed by the tier's latency budget: hedge a preview that has not answered yet."""
    services.preview_hedge(attempt_id=attempt_id)
