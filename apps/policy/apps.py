from django.apps import AppConfig


class PolicyConfig(AppConfig):
    name = "apps.policy"
    label = "policy"

    def ready(self) -> None:
        # Cache invalidation only (no business flow): an edit made in this process is seen by
        # the next submission at once (apps.policy.services, POLICY_CACHE_S).
        from django.contrib.auth import get_user_model
        from django.contrib.auth.models import Group
        from django.db.models.signals import m2m_changed, post_delete, post_save

        from apps.engines.models import Engine
        from apps.policy.models import AssetClass, BudgetLedger, TeamBudget, Tier
        from apps.policy.services import policy_cache_clear

        for model in (Tier, AssetClass, Engine, TeamBudget, BudgetLedger, Group):
            post_save.connect(policy_cache_clear, sender=model, dispatch_uid=f"policy-cache-save-{model.__name__}")
            post_delete.connect(policy_cache_clear, sender=model, dispatch_uid=f"policy-cache-delete-{model.__name__}")
        through = get_user_model().groups.through
        m2m_changed.connect(policy_cache_clear, sender=through, dispatch_uid="policy-cache-user-groups")
