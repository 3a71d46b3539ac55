"""Attempt leases: the worker that runs an attempt keeps saying so, or the attempt is retried.

A RUNNING attempt carries `lease_until`. The worker calling the engine renews it every third
of RENDERHUB_LEASE_S from a small thread, so a long engine call keeps its lease while a
worker that died (SIGKILL, OOM, a lost machine) stops renewing: within one lease the sweeper
sees the expired lease (indexed on status, lease_until) and retries the attempt.
(Research: reliability.md §1, "Recovering jobs stuck in RUNNING", the Airflow pattern.)
"""

import logging
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta

from django.conf import settings
from django.db import connection
from django.utils import timezone

from apps.renders.models import AttemptStatus, RenderAttempt

log = logging.getLogger(__name__)


def lease_seconds() -> float:
    return float(settings.RENDERHUB_LEASE_S)


def lease_deadline(*, now: datetime | None = None) -> datetime:
    """When a lease taken or renewed `now` runs out."""
    return (now or timezone.now()) + timedelta(seconds=lease_seconds())


def lease_renew(*, attempt_id: int) -> bool:
    """Push the lease of a RUNNING attempt one lease ahead; False once it is no longer running."""
    return (
        RenderAttempt.objects.filter(pk=attempt_id, status=AttemptStatus.RUNNING).update(lease_until=lease_deadline())
        == 1
    )


@contextmanager
def lease_kept(*, attempt_id: int) -> Iterator[None]:
    """Renew the attempt's lease every lease/3 seconds while the block runs (the engine call).

    The renewing thread has its own database connection, closed when it stops. A renewal that
    fails (the database restarting) is logged and tried again at the next tick."""
    stop = threading.Event()
    interval = max(lease_seconds() / 3, 0.2)

    def renew() -> None:
        try:
            while not stop.wait(interval):
                try:
                    if not lease_renew(attempt_id=attempt_id):
                        return  # taken over or finished: nothing left to keep
                except Exception:
                    log.warning("could not renew the lease of attempt %s", attempt_id, exc_info=True)
        finally:
            connection.close()

    thread = threading.Thread(target=renew, name=f"lease-{attempt_id}", daemon=True)
    thread.start()
    try:
        yield
    finally:
        # Not joined: the thread ends by itself once it sees `stop` (a renewal already on its
        # way matches only a RUNNING attempt, and the store's update clears the lease), so
        # the engine call's worker goes on at once instead of waiting for it to be scheduled.
        stop.set()
