"""The one Celery app, configured from Django settings under CELERY_."""

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "renderhub.settings")

app = Celery("renderhub")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()

app.conf.beat_schedule = {
    "renders-sweep-stuck": {"task": "renders.sweep_stuck", "schedule": 30.0},
    "renders-release-deferred": {"task": "renders.release_deferred", "schedule": 30.0},
    "renders-purge-idempotency-keys": {"task": "renders.purge_idempotency_keys", "schedule": 3600.0},
}
