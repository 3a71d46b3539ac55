"""The one Celery app, configured from Django settings under CELERY_."""

import os

from celery import Celery, signals

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "renderhub.settings")

app = Celery("renderhub")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


def _beat_schedule() -> dict[str, dict[str, object]]:
    from django.conf import settings

    every = float(settings.RENDERHUB_SWEEP_INTERVAL_S)
    return {
        # Cheap (indexed) and frequent: an attempt whose worker is gone is noticed within its
        # lease plus one interval.
        "renders-sweep-stuck": {"task": "renders.sweep_stuck", "schedule": every},
        "renders-release-deferred": {"task": "renders.release_deferred", "schedule": max(every, 10.0)},
        "renders-purge-idempotency-keys": {"task": "renders.purge_idempotency_keys", "schedule": 3600.0},
    }


@app.on_after_configure.connect
def _schedule(sender: Celery, **_: object) -> None:
    sender.conf.beat_schedule = _beat_schedule()


@signals.worker_init.connect
def _nice_holds_across_sessions(**_: object) -> None:
    """The Procfile nices the workers so the web and the previews get the CPU first; make that
    hold against processes of other sessions (apps/core/priority.py)."""
    from apps.core.priority import autogroup_follow_nice

    autogroup_follow_nice()


@signals.task_prerun.connect
@signals.task_postrun.connect
def _health_check_db_connections(task: object = None, **_: object) -> None:
    """Before and after every task, drop a database connection that broke (a PostgreSQL
    restart) or outlived CONN_MAX_AGE, and arm CONN_HEALTH_CHECKS for the next query.

    Celery's Django fixup does this only every CELERY_DB_REUSE_MAX tasks; Django does it
    around web requests only. Eager tasks run inside the caller's transaction: left alone."""
    request = getattr(task, "request", None)
    if getattr(request, "is_eager", False):
        return
    from django.db import close_old_connections

    close_old_connections()


@signals.worker_init.connect
@signals.beat_init.connect
def _refuse_unconfigured(**_: object) -> None:
    """A worker or beat with DEBUG off and no SECRET_KEY/ALLOWED_HOSTS stops at start-up."""
    from apps.core.checks import refuse_unconfigured

    refuse_unconfigured()
