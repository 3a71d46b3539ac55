import uuid
from datetime import timedelta

from django.conf import settings
from django.db import models
from django.utils import timezone

from apps.catalog.models import Template

# An export not finished this long after it was asked for lost its worker (or never had one): a
# redelivered message may build it again, and the page stops waiting for it.
STALE_AFTER = timedelta(minutes=15)


class ExportStatus(models.TextChoices):
    QUEUED = "queued", "Queued"
    RUNNING = "running", "Building"
    DONE = "done", "Ready"
    FAILED = "failed", "Failed"


class TrainingExport(models.Model):
    """One training-set export of a template, asked for on its page and built by a worker.

    `options` holds what was asked ({"since": "YYYY-MM-DD" | null, "split": float, "seed": int,
    "min_real": int}); `report` is the export's report.json once done; `archive` the zip
    (private storage, served only to admins)."""

    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    template = models.ForeignKey(Template, on_delete=models.CASCADE, related_name="training_exports")
    requested_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    status = models.CharField(max_length=10, choices=ExportStatus.choices, default=ExportStatus.QUEUED)
    options = models.JSONField(default=dict, blank=True)
    report = models.JSONField(default=dict, blank=True)
    archive = models.FileField(upload_to="exports/training/", blank=True)
    error = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["template", "-created_at"], name="training_export_tpl_idx")]

    def __str__(self) -> str:
        return f"{self.template.slug} export {self.public_id} ({self.status})"

    @property
    def is_finished(self) -> bool:
        return self.status in (ExportStatus.DONE, ExportStatus.FAILED)

    @property
    def is_stale(self) -> bool:
        """Queued or building for longer than STALE_AFTER: nobody is finishing it."""
        return not self.is_finished and self.created_at < timezone.now() - STALE_AFTER
