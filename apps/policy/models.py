from decimal import Decimal

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models

from apps.engines.models import Engine


class WhenSpent(models.TextChoices):
    DEFER = "defer", "Defer to the next budget day"
    REFUSE = "refuse", "Refuse"


class Tier(models.Model):
    """A service tier: which engines render its jobs, its latency and money budgets.

    `escalation_ladder` lists the steps tried after a failed verification, e.g.
    [{"step": "guidance"}, {"step": "engine", "engine": "ideogram-v2"}, {"step": "composite"},
    {"step": "review"}]. `degrade_to` is the cheaper tier jobs move to once this tier's day is
    `degrade_at_percent` spent (asset classes marked must-not-degrade never move).
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
    # On auto-final tiers: start the final beside the preview instead of after it (the preview
    # is not a gate there), so that submission → final fits the latency budget more often.
    final_with_preview = models.BooleanField(default=False)
    hedge_previews = models.BooleanField(default=False)
    preview_queue = models.CharField(max_length=100, blank=True)
    final_queue = models.CharField(max_length=100, blank=True)
    quality = models.CharField(max_length=20, blank=True)
    degrade_to = models.ForeignKey("self", on_delete=models.SET_NULL, null=True, blank=True, related_name="+")
    degrade_at_percent = models.PositiveSmallIntegerField(default=80)
    when_spent = models.CharField(max_length=10, choices=WhenSpent.choices, default=WhenSpent.DEFER)
    # Off by default: an engine with no price is refused at admission, and a vendor engine's
    # failure never falls back to a built-in simulation (its picture would pass for the vendor's).
    allow_unpriced = models.BooleanField(default=False)
    allow_simulation_fallback = models.BooleanField(default=False)

    class Meta:
        ordering = ["max_latency_ms", "slug"]
        permissions = [("manage_policy", "Can edit tiers, budgets and routing")]
        constraints = [
            models.CheckConstraint(condition=models.Q(daily_budget_usd__gte=0), name="tier_budget_not_negative"),
            models.CheckConstraint(condition=models.Q(max_attempts__gte=1), name="tier_attempts_at_least_one"),
            models.CheckConstraint(condition=models.Q(degrade_at_percent__lte=100), name="tier_degrade_percent"),
        ]

    def __str__(self) -> str:
        return self.name

    def clean(self) -> None:
        """The invariants a form, the import and the admin share: engines present, money not
        negative, a ladder that names real steps and engines, queues workers consume."""
        errors: dict[str, str] = {}
        if not self.preview_engine_id:
            errors["preview_engine"] = "A tier needs a preview engine."
        if not self.final_engine_id:
            errors["final_engine"] = "A tier needs a final engine."
        if self.daily_budget_usd is not None and self.daily_budget_usd < 0:
            errors["daily_budget_usd"] = "The daily budget cannot be negative."
        if not self.max_latency_ms:
            errors["max_latency_ms"] = "The latency budget must be at least 1 ms."
        if not self.max_attempts:
            errors["max_attempts"] = "A tier needs at least one attempt."
        if self.degrade_at_percent is not None and self.degrade_at_percent > 100:
            errors["degrade_at_percent"] = "Degrade at a percentage between 0 and 100."
        if self.degrade_to_id and self.pk and self.degrade_to_id == self.pk:
            errors["degrade_to"] = "A tier cannot degrade to itself."
        problem = ladder_problem(self.escalation_ladder)
        if problem:
            errors["escalation_ladder"] = problem
        queues = engine_queues()
        for name in ("preview_queue", "final_queue"):
            value = getattr(self, name)
            if value and value not in queues:
                errors[name] = f"Queue {value!r} is not one the workers consume ({', '.join(sorted(queues))})."
        if errors:
            raise ValidationError(errors)


LADDER_STEPS = ("guidance", "engine", "composite", "review")


def ladder_problem(ladder: object) -> str:
    """What is wrong with an escalation ladder, or "" (a list of {"step": …} objects; an
    "engine" step names an existing engine by slug)."""
    if not isinstance(ladder, list):
        return "The ladder must be a list of steps."
    for i, item in enumerate(ladder, start=1):
        if not isinstance(item, dict) or item.get("step") not in LADDER_STEPS:
            return f"Step {i}: each step is one of {', '.join(LADDER_STEPS)} (got {item!r})."
        extra = set(item) - {"step", "engine"}
        if extra:
            return f"Step {i}: unknown key(s) {', '.join(sorted(extra))}."
        if item["step"] == "engine":
            slug = item.get("engine")
            if not slug:
                return f"Step {i}: an engine step names its engine."
            if not Engine.objects.filter(slug=slug).exists():
                return f"Step {i}: there is no engine {slug!r}."
        elif "engine" in item:
            return f"Step {i}: only an engine step names an engine."
    return ""


def engine_queues() -> set[str]:
    """The engine queues workers are started on (settings.RENDERHUB_QUEUES, the verification
    queues excluded)."""
    return {name for key, name in settings.RENDERHUB_QUEUES.items() if not key.startswith("verify")}


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


class BudgetLedger(models.Model):
    """One row per (tier, budget day): the only place a tier's money is counted.

    It moves only by single conditional UPDATEs (services.py): reserve adds to `reserved_usd`
    only WHERE spent + reserved + estimate <= limit; settle moves a reservation's amount out
    of `reserved_usd` and its actual cost into `spent_usd`. `limit_usd` is the tier's budget,
    copied when the row is made and kept in step when an admin edits the tier.
    """

    tier = models.ForeignKey(Tier, on_delete=models.CASCADE, related_name="ledger")
    team = models.SlugField(blank=True, default="")  # "" = the tier's own row; else a TeamBudget's
    day = models.DateField()
    limit_usd = models.DecimalField(max_digits=12, decimal_places=4)
    reserved_usd = models.DecimalField(max_digits=12, decimal_places=4, default=Decimal("0"))
    spent_usd = models.DecimalField(max_digits=12, decimal_places=4, default=Decimal("0"))
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-day", "tier", "team"]
        constraints = [
            models.UniqueConstraint(fields=["tier", "team", "day"], name="ledger_tier_team_day_unique"),
            models.CheckConstraint(condition=models.Q(reserved_usd__gte=0), name="ledger_reserved_not_negative"),
        ]

    def __str__(self) -> str:
        who = f"/{self.team}" if self.team else ""
        return f"{self.tier.slug}{who} {self.day}: {self.spent_usd}+{self.reserved_usd}/{self.limit_usd}"


class TeamBudget(models.Model):
    """An optional daily budget for one team on one tier, on top of the tier's own: a team's
    job must fit both. A team is the user's group that is not a role (accounts.roles)."""

    tier = models.ForeignKey(Tier, on_delete=models.CASCADE, related_name="team_budgets")
    team = models.SlugField()
    daily_budget_usd = models.DecimalField(max_digits=10, decimal_places=4)

    class Meta:
        ordering = ["tier", "team"]
        constraints = [
            models.UniqueConstraint(fields=["tier", "team"], name="team_budget_unique"),
            models.CheckConstraint(condition=models.Q(daily_budget_usd__gte=0), name="team_budget_not_negative"),
        ]

    def __str__(self) -> str:
        return f"{self.tier.slug}/{self.team}: {self.daily_budget_usd}"


class ReservationState(models.TextChoices):
    HELD = "held", "Held"
    SETTLED = "settled", "Settled"
    RELEASED = "released", "Released"


class Reservation(models.Model):
    """Money held for one job (`ref` = the job's public id) on one ledger row.

    A reservation leaves HELD exactly once (a conditional update), so a redelivered
    settle or release changes nothing. `amount_usd` grows when escalation or hedging
    reserves more for the same job.
    """

    ref = models.CharField(max_length=64, unique=True)
    ledger = models.ForeignKey(BudgetLedger, on_delete=models.PROTECT, related_name="reservations")
    team_ledger = models.ForeignKey(
        BudgetLedger, on_delete=models.PROTECT, null=True, blank=True, related_name="team_reservations"
    )
    amount_usd = models.DecimalField(max_digits=12, decimal_places=4)
    actual_usd = models.DecimalField(max_digits=12, decimal_places=4, null=True, blank=True)
    state = models.CharField(max_length=10, choices=ReservationState.choices, default=ReservationState.HELD)
    escalations = models.PositiveSmallIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)
    closed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["ledger", "state"])]

    def __str__(self) -> str:
        return f"{self.ref} {self.state} {self.amount_usd}"


class CostOutcome(models.Model):
    """How many final attempts one finished job took, per template and engine: the data
    the expected-attempts model learns from."""

    template = models.SlugField(blank=True)
    engine = models.SlugField()
    attempts = models.PositiveSmallIntegerField()
    delivered = models.BooleanField()
    # The job's public id, so an undone moderation decision can take its outcome back.
    ref = models.CharField(max_length=64, blank=True, db_index=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [
            models.Index(fields=["engine", "template", "-created_at"]),
            # expected_attempts' fallback to the engine alone (any template): the latest 50
            # without sorting the engine's whole history.
            models.Index(fields=["engine", "-created_at"], name="costoutcome_engine_recent"),
        ]


class PolicyChange(models.Model):
    """Audit log: every change to tiers, routing and the policy file import."""

    actor = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True)
    actor_name = models.CharField(max_length=150, blank=True)  # kept if the user is deleted; "cli" for commands
    kind = models.CharField(max_length=30)  # tier | asset_class | import
    object_slug = models.CharField(max_length=100, blank=True)
    before = models.JSONField(null=True, blank=True)
    after = models.JSONField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-pk"]

    def __str__(self) -> str:
        return f"{self.created_at:%Y-%m-%d %H:%M} {self.actor_name} {self.kind} {self.object_slug}"
