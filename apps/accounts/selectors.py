"""Reads for the Tokens page."""

from django.contrib.auth.models import AbstractBaseUser
from django.db.models import QuerySet

from apps.accounts.models import ApiToken

MANAGE_TOKENS = "accounts.manage_tokens"


def api_tokens_visible(*, user: AbstractBaseUser) -> QuerySet[ApiToken]:
    """The tokens `user` may see and revoke: their own, or everyone's for an admin
    (`accounts.manage_tokens`); newest first, with the owner loaded."""
    tokens = ApiToken.objects.select_related("user").order_by("-created_at", "-pk")
    if user.has_perm(MANAGE_TOKENS):
        return tokens
    return tokens.filter(user=user)
