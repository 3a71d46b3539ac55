"""Policy pages (admin role): tiers with live budget bars, tier editing, asset-class routing,
cost previews and the audit log. Every htmx request also works as a plain request."""

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_GET, require_http_methods, require_POST
from django.views.decorators.vary import vary_on_headers

from apps.core.access import permission_required
from apps.policy import editing, selectors
from apps.policy.forms import AssetClassForm, TierForm
from apps.policy.models import AssetClass, Tier

MANAGE = "policy.manage_policy"


@permission_required(MANAGE)
@require_GET
@vary_on_headers("HX-Request", "HX-Boosted", "HX-Target")
def tier_list(request: HttpRequest) -> HttpResponse:
    context = {"rows": selectors.budget_rows(), "budget_tz": selectors.budget_timezone()}
    # Only the bars' own polling gets the fragment; a boosted navigation gets the page.
    if request.htmx and not request.htmx.boosted and request.htmx.target == "budget-bars":
        return render(request, "policy/tier_list.html#budget-bars", context)
    classes = AssetClass.objects.select_related("tier__final_engine", "tier__preview_engine")
    sizes = selectors.class_sizes()
    context["classes"] = [
        (c, selectors.cost_preview_sentences(asset_class=c, sizes=sizes.get(c.slug, []))) for c in classes
    ]
    context["changes"] = selectors.policy_changes(limit=5)
    return render(request, "policy/tier_list.html", context)


@permission_required(MANAGE)
@require_http_methods(["GET", "POST"])
def tier_edit(request: HttpRequest, slug: str | None = None) -> HttpResponse:
    tier = get_object_or_404(Tier, slug=slug) if slug else None
    before = selectors.tier_snapshot(tier) if tier else None
    form = TierForm(request.POST or None, instance=tier)
    if request.method == "POST" and form.is_valid():
        saved = editing.tier_save(
            tier=form.save(commit=False),
            before=before,
            by=request.user,
            team_budgets=form.cleaned_data["team_budgets"],
        )
        messages.success(request, f"Tier {saved.name} saved.")
        return redirect("policy:tier-list")
    return render(request, "policy/tier_form.html", {"form": form, "tier": tier})


@permission_required(MANAGE)
@require_GET
def routing(request: HttpRequest) -> HttpResponse:
    classes = AssetClass.objects.select_related("tier")
    forms = [(c, AssetClassForm(instance=c, prefix=c.slug)) for c in classes]
    return render(request, "policy/routing.html", {"forms": forms, "new_form": AssetClassForm(prefix="new")})


@permission_required(MANAGE)
@require_POST
def asset_class_save(request: HttpRequest, slug: str | None = None) -> HttpResponse:
    klass = get_object_or_404(AssetClass, slug=slug) if slug else None
    before = selectors.asset_class_snapshot(klass) if klass else None
    form = AssetClassForm(request.POST, instance=klass, prefix=slug or "new")
    if form.is_valid():
        saved = editing.asset_class_save(klass=form.save(commit=False), before=before, by=request.user)
        messages.success(request, f"Asset class {saved.slug} now routes to {saved.tier.name}.")
        return redirect("policy:routing")
    classes = AssetClass.objects.select_related("tier")
    forms = [(c, form if c == klass else AssetClassForm(instance=c, prefix=c.slug)) for c in classes]
    new_form = form if klass is None else AssetClassForm(prefix="new")
    # 200, not 400: htmx does not swap error responses, and the form must show its errors.
    return render(request, "policy/routing.html", {"forms": forms, "new_form": new_form})


@permission_required(MANAGE)
@require_GET
def audit_log(request: HttpRequest) -> HttpResponse:
    return render(request, "policy/audit.html", {"changes": selectors.audit_log()})
