"""Training-set exports asked for on the template page and built by a worker.

An admin's request creates a QUEUED `TrainingExport` and sends `training.export` after the
commit; the task claims it (QUEUED → RUNNING by one conditional update, so a redelivered
message does nothing), builds the zip into private storage and records the report.
"""

import logging
import tempfile
from datetime import date, datetime, time
from pathlib import Path

from celery import current_app
from django.contrib.auth.models import AbstractBaseUser
from django.core.files import File
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from apps.catalog.models import Template
from apps.training.export import ExportOptions, training_set_zip
from apps.training.models import STALE_AFTER, ExportStatus, TrainingExport

log = logging.getLogger(__name__)
EXPORT_TASK = "training.export"


def options_from_json(data: dict[str, object]) -> ExportOptions:
    """ExportOptions from a TrainingExport's `options` ({"since": "YYYY-MM-DD" | None, "split",
    "seed", "min_real", "repeats"}; missing keys take the defaults)."""
    defaults = ExportOptions()
    since = data.get("since")
    return ExportOptions(
        since=since_start(date.fromisoformat(str(since))) if since else None,
        split=float(data.get("split", defaults.split)),  # type: ignore[arg-type]
        seed=int(data.get("seed", defaults.seed)),  # type: ignore[call-overload]
        min_real=int(data.get("min_real", defaults.min_real)),  # type: ignore[call-overload]
        repeats=int(data.get("repeats", defaults.repeats)),  # type: ignore[call-overload]
    )


def since_start(day: date) -> datetime:
    """The start of `day` in the current time zone (what `--since DATE` means)."""
    return timezone.make_aware(datetime.combine(day, time.min))


def training_export_request(
    *,
    template: Template,
    by: AbstractBaseUser,
    since: date | None = None,
    split: float = 0.9,
    seed: int = 0,
    min_real: int = 30,
) -> TrainingExport:
    """Create a QUEUED export of `template` for `by` and send `training.export` (the default
    queue) once the transaction commits."""
    export = TrainingExport.objects.create(
        template=template,
        requested_by=by,
        options={
            "since": since.isoformat() if since else None,
            "split": split,
            "seed": seed,
            "min_real": min_real,
        },
    )
    transaction.on_commit(
        lambda: current_app.tasks[EXPORT_TASK].apply_async(kwargs={"export_id": export.pk}), robust=True
    )
    return export


def training_export_run(*, export_id: int) -> None:
    """Build a QUEUED export: RUNNING, then DONE with `archive` and `report`, or FAILED with the
    error. Does nothing when the export is running or finished, or its row is gone; a RUNNING
    one older than STALE_AFTER lost its worker, and its redelivered message builds it again."""
    claimable = Q(status=ExportStatus.QUEUED) | Q(
        status=ExportStatus.RUNNING, created_at__lt=timezone.now() - STALE_AFTER
    )
    if TrainingExport.objects.filter(claimable, pk=export_id).update(status=ExportStatus.RUNNING) != 1:
        log.info("training export %s is not queued; nothing to do", export_id)
        return
    export = TrainingExport.objects.select_related("template").get(pk=export_id)
    try:
        with tempfile.TemporaryDirectory(prefix="rh-export-") as tmp:
            archive = Path(tmp) / "set.zip"
            result = training_set_zip(
                template=export.template, archive=archive, options=options_from_json(export.options)
            )
            with archive.open("rb") as fh:
                export.archive.save(f"{export.template.slug}-{export.public_id}.zip", File(fh), save=False)
    except Exception as exc:  # any failure is shown to the admin, not lost in a worker log
        log.exception("training export %s failed", export_id)
        TrainingExport.objects.filter(pk=export_id).update(
            status=ExportStatus.FAILED, error=f"{type(exc).__name__}: {exc}", finished_at=timezone.now()
        )
        return
    export.report = dict(result.report)
    export.status = ExportStatus.DONE
    export.finished_at = timezone.now()
    export.save(update_fields=["archive", "report", "status", "finished_at"])
