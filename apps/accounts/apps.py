from django.apps import AppConfig


class AccountsConfig(AppConfig):
    name = "apps.accounts"
    label = "accounts"

    def ready(self) -> None:
        # Cache invalidation only (no business flow): a token or permission change made in
        # this process is seen by the next request at once (apps.accounts.services).
        from django.contrib.auth import get_user_model
        from django.contrib.auth.models import Group
        from django.db.models.signals import m2m_changed, post_delete, post_save

        from apps.accounts.models import ApiToken
        from apps.accounts.services import token_cache_clear

        user_model = get_user_model()
        for model in (ApiToken, user_model, Group):
            post_save.connect(token_cache_clear, sender=model, dispatch_uid=f"token-cache-save-{model.__name__}")
            post_delete.connect(token_cache_clear, sender=model, dispatch_uid=f"token-cache-delete-{model.__name__}")
        for through in (user_model.groups.through, user_model.user_permissions.through, Group.permissions.through):
            m2m_changed.connect(token_cache_clear, sender=through, dispatch_uid=f"token-cache-m2m-{through.__name__}")
