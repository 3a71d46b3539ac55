import uuid
from decimal import Decimal

from django.conf import settings
from django.db import models

from apps.catalog.models import Adapter, Template
from apps.engines.models import Engine
from apps.policy.models import Tier
from apps.renders.text_checks import unverified_reason
from apps.verification.models import VerificationResult


class JobStatus(models.TextChoices):
    QUEUED = "queued", "Queued"
    DEFERRED = "deferred", "Deferred"
    REFUSED = "refused", "Refused"
    PREVIEWING = "previewing", "Rendering preview"
    PREVIEW_READY = "preview_ready", "Preview ready"
    RENDERING = "rendering", "Rendering final"
    DELIVERED = "delivered", "Delivered"
    NEEDS_REVIEW = "needs_review", "Needs review"
    REJECTED = "rejected", "Rejected"
    FAILED = "failed", "Failed"
    CANCELLED = "cancelled", "Cancelled"


TERMINAL_STATUSES = {
    JobStatus.REFUSED,
    JobStatus.DELIVERED,
    JobStatus.REJECTED,
    JobStatus.FAILED,
    JobStatus.CANCELLED,
}
# Nothing happens without a person (or the defer time): what API callers and the harness wait for.
SETTLED_STATUSES = TERMINAL_STATUSES | {JobStatus.NEEDS_REVIEW, JobStatus.DEFERRED}


class RenderJob(models.Model):
    """One requested image. Its status changes only through `services.job_transition`."""

    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    template = models.ForeignKey(Template, on_delete=models.PROTECT, null=True, blank=True)
    texts = models.JSONField(default=dict, blank=True)
    typed_text = models.TextField(blank=True, default="")  # the texts' values, for search (job_typed_text)
    prompt = models.TextField()  # as submitted (template-resolved or free prompt)
    negative_prompt = models.TextField(blank=True)
    regions = models.JSONField(default=dict, blank=True)  # slot -> [x0, y0, x1, y1] fractions
    seed = models.BigIntegerField()
    width = models.PositiveIntegerField()
    height = models.PositiveIntegerField()
    tier = models.ForeignKey(Tier, on_delete=models.PROTECT)
    asset_class = models.SlugField(default="editorial")
    engine = models.ForeignKey(  # a job pinned to one engine (/api/models/<engine>)
        Engine, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    source = models.CharField(max_length=10, default="web")  # web | api
    with_preview = models.BooleanField(default=True)
    # Render without the template's adapter (the before/after harness's "without" arm); its
    # attempts record adapter_use "off".
    adapter_off = models.BooleanField(default=False)
    auto_final = models.BooleanField(default=False)
    status = models.CharField(max_length=20, choices=JobStatus.choices, default=JobStatus.QUEUED)
    status_reason = models.TextField(blank=True)
    admission = models.CharField(max_length=10, blank=True)  # admitted | degraded | deferred | refused
    admission_reason = models.TextField(blank=True)
    requested_tier = models.ForeignKey(Tier, on_delete=models.PROTECT, null=True, blank=True, related_name="+")
    defer_until = models.DateTimeField(null=True, blank=True)
    estimated_cost_usd = models.DecimalField(max_digits=10, decimal_places=4, default=Decimal("0"))
    actual_cost_usd = models.DecimalField(max_digits=10, decimal_places=4, default=Decimal("0"))
    submitted_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="render_jobs")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    preview_ready_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [
            models.Index(fields=["submitted_by", "-created_at"]),
            models.Index(fields=["status", "updated_at"]),
        ]
        permissions = [
            ("submit_render", "Can submit renders"),
            ("view_all_renders", "Can see every user's renders"),
        ]

    def __str__(self) -> str:
        return f"{self.public_id} ({self.status})"

    @property
    def is_terminal(self) -> bool:
        return self.status in TERMINAL_STATUSES

    @property
    def unverified_reason(self) -> str:
        """Why the gate does not check this job's images ("" when it does): no expected text,
        or a tier with verification off."""
        return unverified_reason(tier=self.tier, texts=self.texts)


def job_typed_text(texts: dict[str, str]) -> str:
    """What the editor typed, as one searchable string (slot names left out)."""
    return " · ".join(str(v) for v in texts.values())


class JobEvent(models.Model):
    """Audit trail of a job's status changes."""

    job = models.ForeignKey(RenderJob, on_delete=models.CASCADE, related_name="events")
    from_status = models.CharField(max_length=20, blank=True)
    to_status = models.CharField(max_length=20)
    reason = models.TextField(blank=True)
    actor = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["created_at", "pk"]


class Stage(models.TextChoices):
    PREVIEW = "preview", "Preview"
    FINAL = "final", "Final"


class AttemptStatus(models.TextChoices):
    QUEUED = "queued", "Queued"
    RUNNING = "running", "Rendering"
    VERIFYING = "verifying", "Verifying"
    PASSED = "passed", "Passed"
    REVIEW = "review", "Needs review"
    FAILED = "failed", "Failed verification"
    ERROR = "error", "Error"
    CANCELLED = "cancelled", "Cancelled"


ATTEMPT_DONE = {
    AttemptStatus.PASSED,
    AttemptStatus.REVIEW,
    AttemptStatus.FAILED,
    AttemptStatus.ERROR,
    AttemptStatus.CANCELLED,
}


class AdapterUse(models.TextChoices):
    """What became of the template's adapter on one attempt."""

    NONE = "", "No adapter"  # the template had none
    APPLIED = "applied", "Applied"
    UNSUPPORTED = "unsupported", "Not applied: the engine cannot use adapters"
    OFF = "off", "Left off on purpose"  # e.g. the harness's "without adapter" arm


class RenderAttempt(models.Model):
    """One engine call for a job, with its image, timings, cost and verification."""

    job = models.ForeignKey(RenderJob, on_delete=models.CASCADE, related_name="attempts")
    number = models.PositiveSmallIntegerField()
    stage = models.CharField(max_length=10, choices=Stage.choices)
    engine = models.ForeignKey(Engine, on_delete=models.PROTECT, related_name="attempts")
    guidance = models.PositiveSmallIntegerField(default=0)
    step = models.CharField(
        max_length=20, default="initial"
    )  # initial | guidance | engine | composite | hedge | moderator
    reason = models.TextField(blank=True)
    prompt = models.TextField()
    seed = models.BigIntegerField()
    status = models.CharField(max_length=12, choices=AttemptStatus.choices, default=AttemptStatus.QUEUED)
    requested_size = models.CharField(max_length=20)
    sent = models.JSONField(default=dict, blank=True)  # what the adapter sent (size, model …)
    seed_honoured = models.BooleanField(null=True)
    timings_ms = models.JSONField(default=dict, blank=True)  # queue_wait, engine, store, verify, …
    cost_usd = models.DecimalField(max_digits=10, decimal_places=4, default=Decimal("0"))  # as booked
    # usage | table | unknown | benchmark ("" = no call billed)
    price_source = models.CharField(max_length=10, blank=True)
    image = models.FileField(upload_to="renders/%Y/%m/%d/", blank=True)
    image_mime = models.CharField(max_length=30, blank=True)
    error_kind = models.CharField(max_length=30, blank=True)
    error = models.TextField(blank=True)
    vendor_request_id = models.CharField(max_length=200, blank=True)
    # The template's adapter when the attempt was made (kept whatever `adapter_use` says, so a
    # dropped adapter is visible); `adapter_strength` is the strength sent, None when not applied.
    adapter = models.ForeignKey(Adapter, on_delete=models.PROTECT, null=True, blank=True, related_name="attempts")
    adapter_strength = models.FloatField(null=True, blank=True)
    adapter_use = models.CharField(max_length=12, choices=AdapterUse.choices, default=AdapterUse.NONE, blank=True)
    verification = models.OneToOneField(
        VerificationResult, on_delete=models.SET_NULL, null=True, blank=True, related_name="attempt"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    resent_at = models.DateTimeField(null=True, blank=True)  # when the sweeper last sent it again
    # While RUNNING: the worker calling the engine renews this every lease/3; once it has
    # passed, the worker is taken for gone and the sweeper retries the attempt.
    lease_until = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["job", "number"]
        constraints = [models.UniqueConstraint(fields=["job", "number"], name="attempt_number_unique")]
        indexes = [
            models.Index(fields=["status", "created_at"]),
            # The sweeper's expired-lease query and admission's recent-throughput query.
            models.Index(fields=["status", "lease_until"], name="attempt_lease_idx"),
            models.Index(fields=["stage", "finished_at"], name="attempt_stage_finished_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.job_id}#{self.number} {self.stage} {self.status}"

    @property
    def unverified_reason(self) -> str:
        """For an attempt the pipeline accepted without a gate verdict: why it was not checked."""
        if self.status != AttemptStatus.PASSED or self.verification_id is not None:
            return ""
        return self.job.unverified_reason or "not verified"


class IdempotencyKey(models.Model):
    """One create request remembered per user, so a repeat answers with the same jobs.

    `key` is the client's `Idempotency-Key` header (unique per user and endpoint), or blank for
    a retry fingerprint: a request from an SDK that counts its retries (`x-stainless-retry-count`)
    and sent no key, found again by its body hash when the SDK retries it. `job_ids` are the
    jobs the request created, in order; a request that created none (a budget refusal) keeps
    its answer in `answer_status` / `answer` instead. Expires after `expires_at`.
    """

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    scope = models.CharField(max_length=200)  # the endpoint's path, e.g. /v1/images/generations
    key = models.CharField(max_length=255, blank=True)
    body_sha256 = models.CharField(max_length=64)
    job_ids = models.JSONField(default=list, blank=True)
    answer_status = models.PositiveSmallIntegerField(null=True, blank=True)
    answer = models.JSONField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField(db_index=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["user", "scope", "key"], condition=~models.Q(key=""), name="idempotency_key_unique"
            )
        ]
        indexes = [models.Index(fields=["user", "scope", "body_sha256"], name="idempotency_fingerprint")]

    def __str__(self) -> str:
        return f"{self.user_id} {self.scope} {self.key or self.body_sha256[:12]}"
