import hashlib
import secrets

from django.contrib.auth.models import AbstractBaseUser
from django.utils import timezone

from apps.accounts.models import ApiToken

TOKEN_PREFIX = "rh_"


def _hash(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def api_token_create(*, user: AbstractBaseUser, name: str = "") -> str:
    """Create a token for `user` and return the clear key; only its hash is stored."""
    key = TOKEN_PREFIX + secrets.token_urlsafe(32)
    ApiToken.objects.create(user=user, name=name, prefix=key[:10], key_hash=_hash(key))
    return key


def api_token_authenticate(*, key: str) -> AbstractBaseUser | None:
    """The active user behind a bearer key, or None. Records when the token was last used."""
    token = (
        ApiToken.objects.select_related("user").filter(key_hash=_hash(key), revoked=False, user__is_active=True).first()
    )
    if token is None:
        return None
    ApiToken.objects.filter(pk=token.pk).update(last_used_at=timezone.now())
    return token.user
