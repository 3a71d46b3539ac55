import uuid

from django.conf import settings
from django.db import models

from apps.catalog.models import Adapter, Template
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


class AdapterTrial(models.Model):
    """Before/after for a template's adapter: the same texts and seeds rendered on one engine
    with the adapter and without it, so the only difference between two cells is the adapter.
    `adapter` and `strength` are what the "with" arm ran with (the template's at creation)."""

    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    template = models.ForeignKey(Template, on_delete=models.PROTECT, related_name="+")
    adapter = models.ForeignKey(Adapter, on_delete=models.PROTECT, related_name="+")
    strength = models.FloatField()
    engine = models.ForeignKey(Engine, on_delete=models.PROTECT, related_name="+")
    texts = models.JSONField(default=dict)
    seeds = models.JSONField(default=list)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.template_id} ± {self.adapter_id}"


class AdapterTrialCell(models.Model):
    """One seed of a trial, with or without the adapter, and the job that renders it."""

    trial = models.ForeignKey(AdapterTrial, on_delete=models.CASCADE, related_name="cells")
    seed = models.BigIntegerField()
    with_adapter = models.BooleanField()
    job = models.OneToOneField(RenderJob, on_delete=models.CASCADE, related_name="+")

    class Meta:
        ordering = ["seed", "with_adapter"]
        constraints = [
            models.UniqueConstraint(fields=["trial", "seed", "with_adapter"], name="harness_trial_cell_unique")
        ]
