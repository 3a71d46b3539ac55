from django.db import models


class Verdict(models.TextChoices):
    PASS = "pass", "Pass"
    REVIEW = "review", "Needs review"
    FAIL = "fail", "Fail"


class VerificationResult(models.Model):
    """What the gate read in one image and what it concluded.

    `expected` maps slot → text; `words` is a list of {"text", "box": [x0, y0, x1, y1],
    "conf"}; `checks` is a list of {"name", "status", "detail", "evidence"}.
    """

    expected = models.JSONField(default=dict)
    ocr_text = models.TextField(blank=True)
    words = models.JSONField(default=list)
    checks = models.JSONField(default=list)
    verdict = models.CharField(max_length=10, choices=Verdict.choices)
    reasons = models.JSONField(default=list)
    backend = models.CharField(max_length=30, blank=True)
    seconds = models.FloatField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        # Admission reads the latest results' timings (newest first, a handful of rows).
        indexes = [models.Index(fields=["created_at"], name="verification_created_idx")]

    def __str__(self) -> str:
        return f"{self.verdict}: {'; '.join(self.reasons)[:80]}"
