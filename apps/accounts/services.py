import hashlib
import secrets
from datetime import datetime, timedelta

from django.contrib.auth.models import AbstractBaseUser
from django.utils import timezone

from apps.accounts.models import ApiToken
from apps.core.ttlcache import TTLCache

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


# Token → (token pk, its user with permissions loaded, expires_at), per process for a few
# seconds (apps.core.ttlcache): the API's bearer check costs no query on a hit. Saving or
# deleting a token, a user, a group or a membership clears it in this process (signals
# connected in AccountsConfig.ready); other processes see a revocation within TOKEN_CACHE_S.
TOKEN_CACHE_S = 5.0
LAST_USED_GRANULARITY_S = 60  # `last_used_at` is written at most once a minute per token
_tokens: TTLCache[str, tuple[int, AbstractBaseUser, datetime | None, datetime | None] | None] = TTLCache(
    ttl_s=TOKEN_CACHE_S
)


def _token_load(key_hash: str) -> tuple[int, AbstractBaseUser, datetime | None, datetime | None] | None:
    token = (
        ApiToken.objects.select_related("user").filter(key_hash=key_hash, revoked=False, user__is_active=True).first()
    )
    if token is None:
        return None
    token.user.get_all_permissions()  # fills the user's permission cache once (2 queries)
    return token.pk, token.user, token.expires_at, token.last_used_at


def api_token_authenticate(*, key: str) -> AbstractBaseUser | None:
    """The active user behind a bearer key, or None (unknown, revoked, inactive user).

    Raises TokenExpired for a token past its expiry. Records when the token was last used
    (to the minute). The user comes with its permissions loaded and is shared by the
    requests this process serves within TOKEN_CACHE_S: callers must not modify it."""
    key_hash = _hash(key)
    found = _tokens.get_or_load(key_hash, lambda: _token_load(key_hash))
    if found is None:
        _tokens.clear()  # not cached as unknown: a token created elsewhere works at once
        return None
    pk, user, expires_at, last_used_at = found
    now = timezone.now()
    if expires_at is not None and expires_at <= now:
        raise TokenExpired(f"This token expired at {expires_at:%Y-%m-%d %H:%M} UTC; create a new one.")
    if last_used_at is None or (now - last_used_at).total_seconds() >= LAST_USED_GRANULARITY_S:
        ApiToken.objects.filter(pk=pk).update(last_used_at=now)
        _tokens.clear()
    return user


def token_cache_clear(*args: object, **kwargs: object) -> None:
    """Signal receiver: a token, user, group or membership changed in this process."""
    _tokens.clear()


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
    """Revoke `token` for good (the row stays for the record): this process refuses it at
    once, every other process within TOKEN_CACHE_S seconds (their caches). False when it was
    already revoked. The caller checks who may (views.tokens_revoke)."""
    revoked = ApiToken.objects.filter(pk=token.pk, revoked=False).update(revoked=True) == 1
    _tokens.clear()  # a queryset update sends no post_save: the signal receiver never runs
    return revoked
