"""Read-only views for superusers. Tiers and routing are edited on the policy pages, which
validate, keep ledger limits in step and write the audit log; money moves only through
services.py, so nothing here can change a ledger."""

from django.contrib import admin
from django.http import HttpRequest

from apps.policy.models import AssetClass, BudgetLedger, PolicyChange, Reservation, TeamBudget, Tier


class ReadOnlyAdmin(admin.ModelAdmin):
    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False


@admin.register(Tier)
class TierAdmin(ReadOnlyAdmin):
    list_display = ["slug", "name", "preview_engine", "final_engine", "max_latency_ms", "daily_budget_usd"]


@admin.register(AssetClass)
class AssetClassAdmin(ReadOnlyAdmin):
    list_display = ["slug", "tier", "must_not_degrade"]


@admin.register(TeamBudget)
class TeamBudgetAdmin(ReadOnlyAdmin):
    list_display = ["tier", "team", "daily_budget_usd"]


@admin.register(BudgetLedger)
class BudgetLedgerAdmin(ReadOnlyAdmin):
    list_display = ["day", "tier", "team", "limit_usd", "spent_usd", "reserved_usd", "updated_at"]
    list_filter = ["tier", "day"]


@admin.register(Reservation)
class ReservationAdmin(ReadOnlyAdmin):
    list_display = ["ref", "state", "amount_usd", "actual_usd", "ledger", "escalations", "created_at", "closed_at"]
    list_filter = ["state"]
    search_fields = ["ref"]


@admin.register(PolicyChange)
class PolicyChangeAdmin(ReadOnlyAdmin):
    list_display = ["created_at", "actor_name", "kind", "object_slug"]
    list_filter = ["kind"]
