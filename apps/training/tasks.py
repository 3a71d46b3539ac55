"""Celery is one more interface: one service call per task."""

from celery import shared_task

from apps.training import services


@shared_task(name="training.export")
def export(*, export_id: int) -> None:
    """Build a queued training-set export (no-op unless it is still queued)."""
    services.training_export_run(export_id=export_id)
