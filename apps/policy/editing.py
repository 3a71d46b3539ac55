"""Writes behind the policy pages: every change goes through here and leaves an audit row
(who, when, before, after)."""

from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction

from apps.policy.models import AssetClass, PolicyChange, Tier
from apps.policy.selectors import asset_class_snapshot, tier_snapshot
from apps.policy.services import ledger_sync_limit


def policy_change_record(
    *, kind: str, slug: str, before: object, after: object, by: AbstractBaseUser | None, actor_name: str = ""
) -> PolicyChange | None:
    """Write an audit row, unless nothing changed."""
    if before == after:
        return None
    return PolicyChange.objects.create(
        actor=by,
        actor_name=actor_name or (by.get_username() if by else "system"),
        kind=kind,
        object_slug=slug,
        before=before,
        after=after,
    )


def tier_save(*, tier: Tier, before: dict[str, object] | None, by: AbstractBaseUser | None) -> Tier:
    """Validate and save an edited (or new) tier, keep today's ledger limit in step, audit it.

    `before` is the tier's snapshot taken before the caller changed the instance (None for
    a new tier). Raises ValidationError (nothing saved) on bad input.
    """
    tier.full_clean()
    with transaction.atomic():
        tier.save()
        ledger_sync_limit(tier=tier)
        policy_change_record(kind="tier", slug=tier.slug, before=before, after=tier_snapshot(tier), by=by)
    return tier


def asset_class_save(*, klass: AssetClass, before: dict[str, object] | None, by: AbstractBaseUser | None) -> AssetClass:
    """Validate and save an asset class's routing; audit it."""
    klass.full_clean()
    with transaction.atomic():
        klass.save()
        policy_change_record(
            kind="asset_class", slug=klass.slug, before=before, after=asset_class_snapshot(klass), by=by
        )
    return klass
