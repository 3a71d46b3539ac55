"""The bearer-token cache: no query on a repeat within the cache's life, and a revocation,
deactivation or permission change made in this process is seen at once."""

import pytest
from django.contrib.auth.models import Group

from apps.accounts.models import ApiToken
from apps.accounts.services import api_token_authenticate, api_token_create, api_token_revoke


@pytest.mark.django_db
def test_api_token_authenticate_repeat_costs_no_query(editor, django_assert_num_queries):
    key = api_token_create(user=editor)
    api_token_authenticate(key=key)  # loads the token and the user's permissions, notes last use
    api_token_authenticate(key=key)

    with django_assert_num_queries(0):
        user = api_token_authenticate(key=key)

    assert user == editor
    assert user.has_perm("renders.submit_render")


@pytest.mark.django_db
def test_api_token_revoked_in_this_process_is_refused_at_once(editor):
    key = api_token_create(user=editor)
    assert api_token_authenticate(key=key) == editor

    token = ApiToken.objects.get(user=editor)
    token.revoked = True
    token.save()

    assert api_token_authenticate(key=key) is None


@pytest.mark.django_db
def test_api_token_user_removed_from_a_role_loses_its_permission_at_once(editor):
    key = api_token_create(user=editor)
    assert api_token_authenticate(key=key).has_perm("renders.submit_render")

    editor.groups.remove(Group.objects.get(name="editor"))

    assert not api_token_authenticate(key=key).has_perm("renders.submit_render")


@pytest.mark.django_db
def test_api_token_revoked_through_the_service_is_refused_at_once_in_this_process(editor):
    """api_token_revoke is a queryset update, which sends no post_save: the service itself
    must drop the cached token (it stayed valid here for TOKEN_CACHE_S after 'Revoked')."""
    key = api_token_create(user=editor)
    api_token_authenticate(key=key)  # first use notes last_used_at and clears the cache
    assert api_token_authenticate(key=key) == editor  # now cached

    assert api_token_revoke(token=ApiToken.objects.get(user=editor)) is True

    assert api_token_authenticate(key=key) is None
