from decimal import Decimal

from django.db import models

from apps.engines.models import Engine


class Tier(models.Model):
    """A service tier: which engines render its jobs, its latency and money budgets.

    `escalation_ladder` lists the steps tried after a failed verification, e.g.
    [{"step": "guidance"}, {"step": "engine", "engine": "ideogram-v2"}, {"step": "composite"}].
    """

    slug = models.SlugField(unique=True)
    name = models.CharField(max_length=100)
    preview_engine = models.ForeignKey(Engine, on_delete=models.PROTECT, related_name="+")
    final_engine = models.ForeignKey(Engine, on_delete=models.PROTECT, related_name="+")
    fallback_engine = models.ForeignKey(Engine, on_delete=models.PROTECT, related_name="+", null=True, blank=True)
    max_latency_ms = models.PositiveIntegerField(default=2200)
    daily_budget_usd = models.DecimalField(max_digits=10, decimal_places=4, default=Decimal("100"))
    max_attempts = models.PositiveSmallIntegerField(default=3)
    escalation_ladder = models.JSONField(default=list, blank=True)
    verify_ocr = models.BooleanField(default=True)
    auto_final = models.BooleanField(default=False)
    hedge_previews = models.BooleanField(default=False)
    preview_queue = models.CharField(max_length=100, blank=True)
    final_queue = models.CharField(max_length=100, blank=True)
    quality = models.CharField(max_length=20, blank=True)

    class Meta:
        ordering = ["max_latency_ms", "slug"]
        permissions = [("manage_policy", "Can edit tiers, budgets and routing")]

    def __str__(self) -> str:
        return self.name


class AssetClass(models.Model):
    """A kind of asset (preview, avatar, editorial, paid …) and the tier it is routed to."""

    slug = models.SlugField(unique=True)
    name = models.CharField(max_length=100)
    tier = models.ForeignKey(Tier, on_delete=models.PROTECT, related_name="asset_classes")
    must_not_degrade = models.BooleanField(default=False)

    class Meta:
        ordering = ["slug"]

    def __str__(self) -> str:
        return self.name
