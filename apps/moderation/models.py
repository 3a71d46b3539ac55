from django.conf import settings
from django.db import models

from apps.renders.models import RenderJob


class ModerationDecision(models.Model):
    """A moderator's decision on a job that needed review; the audit trail of the queue."""

    class Action(models.TextChoices):
        CLAIM = "claim", "Claimed"
        RELEASE = "release", "Released"
        APPROVE = "approve", "Approved"
        REJECT = "reject", "Rejected"
        RERENDER = "rerender", "Forced re-render"
        UNDO = "undo", "Undid"

    job = models.ForeignKey(RenderJob, on_delete=models.CASCADE, related_name="moderation_decisions")
    moderator = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT)
    action = models.CharField(max_length=10, choices=Action.choices)
    reason = models.TextField(blank=True)
    details = models.JSONField(default=dict, blank=True)
    # On an UNDO row: the approval or rejection it undid. One-to-one, so a decision is undone
    # at most once even when two requests race (the second insert fails).
    undoes = models.OneToOneField("self", on_delete=models.PROTECT, null=True, blank=True, related_name="undone_by")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at"]
        permissions = [("moderate", "Can work the moderation queue")]


class JobClaim(models.Model):
    """Who is working a job in the queue. One row per job; taken and released by conditional
    updates (services.claim_take), so two moderators never work the same job. A claim lapses
    at `expires_at`, so a moderator who walks away does not lock a job forever."""

    job = models.OneToOneField(RenderJob, on_delete=models.CASCADE, related_name="moderation_claim")
    moderator = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    claimed_at = models.DateTimeField(null=True, blank=True)
    expires_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"{self.job_id} claimed by {self.moderator_id or 'nobody'}"
