"""Record each run of a periodic recovery task, so the queues page can show what it recovered."""

import logging
import time
from collections.abc import Callable, Mapping

from django.db.models import Q
from django.utils import timezone

from apps.core.models import SweepRun

log = logging.getLogger(__name__)

KEEP_DAYS = 7


def sweep_run_record[R: Mapping[str, int]](*, task: str, run: Callable[[], R]) -> R:
    """Call `run()` (the sweeper) and store one SweepRun row with its result dict (counts by
    kind, e.g. {"requeued": 0, "lost": 1, "reverified": 0}) and duration in ms. An exception
    from `run` is stored as the row's error and raised again. Rows older than a week go."""
    started_at = timezone.now()
    started = time.perf_counter()
    try:
        result = run()
    except Exception as exc:
        _store(task=task, started_at=started_at, started=started, result={}, error=f"{type(exc).__name__}: {exc}")
        raise
    _store(task=task, started_at=started_at, started=started, result=dict(result), error="")
    return result


def _store(*, task: str, started_at, started: float, result: dict[str, int], error: str) -> None:  # type: ignore[no-untyped-def]
    # Recording is bookkeeping: a failure here must not turn a good sweep into a failed task.
    try:
        SweepRun.objects.create(
            task=task,
            started_at=started_at,
            duration_ms=(time.perf_counter() - started) * 1000,
            result=result,
            recovered=sum(v for v in result.values() if isinstance(v, int)),
            error=error,
        )
        SweepRun.objects.filter(task=task, started_at__lt=started_at - timezone.timedelta(days=KEEP_DAYS)).delete()
    except Exception:
        log.exception("could not record the %s run", task)


def sweep_runs_latest(*, task: str, limit: int = 10) -> list[SweepRun]:
    """The task's most recent runs, newest first."""
    return list(SweepRun.objects.filter(task=task).order_by("-started_at")[:limit])


def sweep_runs_recovering(*, task: str, limit: int = 10) -> list[SweepRun]:
    """The task's most recent runs that recovered something or failed, newest first."""
    runs = SweepRun.objects.filter(Q(recovered__gt=0) | ~Q(error=""), task=task)
    return list(runs.order_by("-started_at")[:limit])
