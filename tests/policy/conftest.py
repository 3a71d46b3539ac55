import pytest

from apps.catalog.models import Template
from apps.policy.models import Tier


@pytest.fixture
def cover(demo):  # type: ignore[no-untyped-def]
    return Template.objects.get(slug="editorial-cover")


@pytest.fixture
def production(demo):  # type: ignore[no-untyped-def]
    return Tier.objects.get(slug="production")


@pytest.fixture
def preview_tier(demo):  # type: ignore[no-untyped-def]
    return Tier.objects.get(slug="preview")


@pytest.fixture(autouse=True)
def _role_groups(db):  # type: ignore[no-untyped-def]
    """The role groups come from a data migration, which a transactional test's flush
    removes; put them back so every test here starts from the same place."""
    from django.contrib.auth.models import Group, Permission

    from apps.accounts.roles import ROLE_PERMISSIONS

    for role, perms in ROLE_PERMISSIONS.items():
        group, created = Group.objects.get_or_create(name=role)
        if created:
            for perm in perms:
                app_label, codename = perm.split(".")
                group.permissions.add(Permission.objects.get(content_type__app_label=app_label, codename=codename))
