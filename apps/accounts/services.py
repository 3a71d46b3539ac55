import hashlib
import secrets
from datetime import timedelta

from django.contrib.auth.models import AbstractBaseUser
from django.utils import timezone

from apps.accounts.models import ApiToken

TOKEN_PREFIX = "rh_"


def _hash(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


class TokenExpired(Exception):
    """The bearer key is known but past its `expires_at`; the message says when it expired."""


def api_token_create(*, user: AbstractBaseUser, name: str = "", expires_days: float | None = None) -> str:
    """Create a token for `user` and return the clear key; only its hash is stored.

    `expires_days` (days from now, may be fractional): after that the token is refused; None
    means it never expires."""
    key = TOKEN_PREFIX + secrets.token_urlsafe(32)
    expires_at = timezone.now() + timedelta(days=expires_days) if expires_days is not None else None
    ApiToken.objects.create(user=user, name=name, prefix=key[:10], key_hash=_hash(key), expires_at=expires_at)
    return key


def api_token_authenticate(*, key: str) -> AbstractBaseUser | None:
    """The active user behind a bearer key, or None (unknown, revoked, inactive user).

    Raises TokenExpired for a token past its expiry. Records when the token was last used."""
    token = (
        ApiToken.objects.select_related("user").filter(key_hash=_hash(key), revoked=False, user__is_active=True).first()
    )
    if token is None:
        return None
    now = timezone.now()
    if token.expires_at is not None and token.expires_at <= now:
        raise TokenExpired(f"This token expired at {token.expires_at:%Y-%m-%d %H:%M} UTC; create a new one.")
    ApiToken.objects.filter(pk=token.pk).update(last_used_at=now)
    return token.user


def roles_sync() -> None:
    """Make sure the role groups exist with exactly their permissions (idempotent).

    The data migration creates them; this also restores them where a database was
    flushed (transactional tests) or a permission was added to ROLE_PERMISSIONS.
    """
    from django.contrib.auth.models import Group, Permission

    from apps.accounts.roles import ROLE_PERMISSIONS

    for role, perms in ROLE_PERMISSIONS.items():
        group, _ = Group.objects.get_or_create(name=role)
        wanted = [
            Permission.objects.get(content_type__app_label=perm.split(".")[0], codename=perm.split(".")[1])
            for perm in perms
        ]
        group.permissions.set(wanted)


def api_token_revoke(*, token: ApiToken) -> bool:
    """Revoke `token` for good (it is refused from now on; the row stays for the record).
    False when it was already revoked. The caller checks who may (views.tokens_revoke)."""
    return ApiToken.objects.filter(pk=token.pk, revoked=False).update(revoked=True) == 1
