import uuid

from django.conf import settings
from django.db import models

from apps.engines.models import Engine
from apps.renders.models import RenderJob


class Comparison(models.Model):
    """The same prompts and seeds rendered on several engines, side by side."""

    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    name = models.CharField(max_length=120)
    prompts = models.JSONField(default=list)
    seeds = models.JSONField(default=list)
    width = models.PositiveIntegerField(default=768)
    height = models.PositiveIntegerField(default=512)
    engines = models.ManyToManyField(Engine, related_name="+")
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return self.name


class ComparisonCell(models.Model):
    """One (prompt, seed, engine) of a comparison and the job that renders it."""

    comparison = models.ForeignKey(Comparison, on_delete=models.CASCADE, related_name="cells")
    prompt_index = models.PositiveSmallIntegerField()
    seed = models.BigIntegerField()
    engine = models.ForeignKey(Engine, on_delete=models.PROTECT, related_name="+")
    job = models.OneToOneField(RenderJob, on_delete=models.CASCADE, related_name="+")

    class Meta:
        ordering = ["prompt_index", "seed", "engine__slug"]
        constraints = [
            models.UniqueConstraint(fields=["comparison", "prompt_index", "seed", "engine"], name="harness_cell_unique")
        ]
