"""Seed broker messages and worker heartbeats for the queues page tests."""

from datetime import timedelta

from celery import current_app
from django.utils import timezone

from apps.core.models import WorkerHeartbeat


def publish(queue: str, n: int = 1) -> None:
    for _ in range(n):
        current_app.send_task("renders.verify_attempt", kwargs={"attempt_id": 0}, queue=queue)


def heartbeat(node: str, *, queues: list[str], age_s: float = 1, stopped: bool = False, **fields) -> WorkerHeartbeat:  # type: ignore[no-untyped-def]
    seen = timezone.now() - timedelta(seconds=age_s)
    return WorkerHeartbeat.objects.create(
        node=node,
        pid=fields.pop("pid", 100),
        queues=queues,
        started_at=seen - timedelta(minutes=5),
        last_seen_at=seen,
        stopped_at=seen if stopped else None,
        exit_ok=True if stopped else None,
        **fields,
    )
