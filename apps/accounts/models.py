from django.conf import settings
from django.db import models


class ApiToken(models.Model):
    """A bearer token for the JSON API. Only its SHA-256 is stored."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="api_tokens")
    name = models.CharField(max_length=100, blank=True)
    prefix = models.CharField(max_length=12)
    key_hash = models.CharField(max_length=64, unique=True)
    created_at = models.DateTimeField(auto_now_add=True)
    last_used_at = models.DateTimeField(null=True, blank=True)
    expires_at = models.DateTimeField(null=True, blank=True)  # None: never expires
    revoked = models.BooleanField(default=False)

    class Meta:
        ordering = ["-created_at", "-pk"]
        permissions = [("manage_tokens", "Can see and revoke every user's API tokens")]

    def __str__(self) -> str:
        return f"{self.prefix}… ({self.user})"
