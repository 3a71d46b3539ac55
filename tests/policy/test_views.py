from decimal import Decimal

import pytest
from django.urls import reverse

from apps.engines.models import Engine
from apps.policy import services as policy
from apps.policy.models import AssetClass, PolicyChange, Tier


@pytest.fixture
def admin_client(client, admin_user, demo):  # type: ignore[no-untyped-def]
    client.force_login(admin_user)
    return client


def test_tier_list_needs_the_admin_role(client, editor, demo):
    client.force_login(editor)

    assert client.get(reverse("policy:tier-list")).status_code == 403


def test_tier_list_anonymous_goes_to_login(client, demo):
    response = client.get(reverse("policy:tier-list"))

    assert response.status_code == 302 and "login" in response["Location"]


def test_tier_list_shows_live_budget_bars_and_cost_preview(admin_client, production):
    policy.admission_decide(
        tier=production, engine=None, width=768, height=512, asset_class="editorial", ref="x"
    )  # holds $0.10 of $200
    policy.budget_settle(ref="x", actual_usd=Decimal("20"))  # $20 spent → 10 %

    page = admin_client.get(reverse("policy:tier-list")).content.decode()

    assert 'class="spent" x="0" y="0" width="10.0"' in page
    assert "$20.00 spent" in page
    assert "At today&#x27;s prices one Editorial image on the Production tier (768×512) costs about $0.10" in page
    assert "style=" not in page  # CSP: no inline styles


def test_tier_list_htmx_returns_only_the_bars(admin_client, django_assert_max_num_queries):
    with django_assert_max_num_queries(8):
        response = admin_client.get(
            reverse("policy:tier-list"), headers={"HX-Request": "true", "HX-Target": "budget-bars"}
        )

    body = response.content.decode()
    assert body.lstrip().startswith('<div id="budget-bars"')
    assert "Routing and cost preview" not in body


def test_tier_edit_saves_and_audits_before_and_after(admin_client, admin_user, production):
    form = admin_client.get(reverse("policy:tier-edit", args=["production"])).context["form"]
    data = {k: v for k, v in form.initial.items() if v is not None}
    data.update(
        {
            "daily_budget_usd": "150",
            "escalation_ladder": "guidance\nengine: builtin-typography\nreview",
            "preview_engine": production.preview_engine_id,
            "final_engine": production.final_engine_id,
            "fallback_engine": production.fallback_engine_id,
            "degrade_to": production.degrade_to_id,
            "verify_ocr": "on",
            "auto_final": "on",
        }
    )
    data.pop("hedge_previews", None)

    response = admin_client.post(reverse("policy:tier-edit", args=["production"]), data)

    assert response.status_code == 302
    production.refresh_from_db()
    assert production.daily_budget_usd == Decimal("150")
    assert production.escalation_ladder == [
        {"step": "guidance"},
        {"step": "engine", "engine": "builtin-typography"},
        {"step": "review"},
    ]
    change = PolicyChange.objects.get(kind="tier")
    assert change.actor == admin_user
    assert change.before["daily_budget_usd"] == "200"
    assert change.after["daily_budget_usd"] == "150"
    assert change.after["hedge_previews"] is False
    assert policy.ledger_for(tier=production).limit_usd == Decimal("150")


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("daily_budget_usd", "-1", "The daily budget cannot be negative."),
        ("escalation_ladder", "guidance\nengine: ghost", "there is no engine &#x27;ghost&#x27;"),
        ("escalation_ladder", "pray", "is not a step"),
        ("final_engine", "", "This field is required"),
    ],
)
def test_tier_edit_refuses_bad_input_and_saves_nothing(admin_client, production, field, value, message):
    data = {
        "name": "Production",
        "preview_engine": production.preview_engine_id,
        "final_engine": production.final_engine_id,
        "max_latency_ms": 2200,
        "daily_budget_usd": "200",
        "max_attempts": 5,
        "degrade_at_percent": 90,
        "when_spent": "defer",
        field: value,
    }

    response = admin_client.post(reverse("policy:tier-edit", args=["production"]), data)

    assert response.status_code == 200
    assert message in response.content.decode()
    assert Tier.objects.get(slug="production").daily_budget_usd == Decimal("200")
    assert not PolicyChange.objects.exists()


def test_routing_moves_a_class_to_another_tier_and_audits(admin_client, admin_user):
    response = admin_client.post(
        reverse("policy:asset-class-save", args=["avatar"]),
        {"avatar-name": "Avatar", "avatar-tier": Tier.objects.get(slug="production").pk},
    )

    assert response.status_code == 302
    assert AssetClass.objects.get(slug="avatar").tier.slug == "production"
    change = PolicyChange.objects.get(kind="asset_class")
    assert (change.before["tier"], change.after["tier"]) == ("preview", "production")


def test_routing_new_class_with_unknown_tier_is_refused(admin_client):
    response = admin_client.post(
        reverse("policy:asset-class-new"), {"new-slug": "banner", "new-name": "Banner", "new-tier": 99999}
    )

    assert response.status_code == 200
    assert "Select a valid choice" in response.content.decode()
    assert not AssetClass.objects.filter(slug="banner").exists()


def test_audit_log_lists_changes(admin_client, admin_user, production):
    PolicyChange.objects.create(actor=admin_user, actor_name="root", kind="tier", object_slug="production")

    page = admin_client.get(reverse("policy:audit-log")).content.decode()

    assert "root" in page and "tier production" in page


def test_routing_page_lists_classes_with_their_tier(admin_client):
    page = admin_client.get(reverse("policy:routing")).content.decode()

    assert 'id="class-paid"' in page and 'action="/policy/routing/paid/"' in page


def test_tier_new_creates_a_tier_and_audits_it(admin_client, production):
    response = admin_client.post(
        reverse("policy:tier-new"),
        {
            "slug": "night",
            "name": "Night batch",
            "preview_engine": production.preview_engine_id,
            "final_engine": production.final_engine_id,
            "max_latency_ms": 60000,
            "daily_budget_usd": "10",
            "max_attempts": 2,
            "degrade_at_percent": 80,
            "when_spent": "refuse",
            "escalation_ladder": "guidance\nreview",
            "final_queue": "render.final",
        },
    )

    assert response.status_code == 302
    night = Tier.objects.get(slug="night")
    assert night.escalation_ladder == [{"step": "guidance"}, {"step": "review"}]
    change = PolicyChange.objects.get(object_slug="night")
    assert change.before is None and change.after["daily_budget_usd"] == "10"


def test_tier_new_without_engines_is_refused(admin_client):
    response = admin_client.post(
        reverse("policy:tier-new"),
        {"slug": "bare", "name": "Bare", "max_latency_ms": 800, "daily_budget_usd": "1", "max_attempts": 1,
         "degrade_at_percent": 80, "when_spent": "defer"},
    )  # fmt: skip

    assert response.status_code == 200
    assert "This field is required" in response.content.decode()
    assert not Tier.objects.filter(slug="bare").exists()


def test_job_page_shows_why_a_job_was_deferred(client, editor, production, cover):
    from apps.renders.pipeline.submit import job_submit

    production.daily_budget_usd = Decimal("0.10")
    production.save()
    job_submit(submitted_by=editor, template=cover, texts={"title": "One"}, asset_class="paid")
    job = job_submit(submitted_by=editor, template=cover, texts={"title": "Two"}, asset_class="paid")
    client.force_login(editor)

    page = client.get(reverse("renders:job-detail", args=[job.public_id])).content.decode()

    assert "admission-deferred" in page
    assert "Deferred: Production&#x27;s budget for today is spent" in page
    assert "Runs after" in page


def test_tier_list_boosted_navigation_gets_the_whole_page(admin_client):
    response = admin_client.get(reverse("policy:tier-list"), headers={"HX-Request": "true", "HX-Boosted": "true"})

    assert "Routing and cost preview" in response.content.decode()


def test_tier_edit_team_budgets_are_saved_and_shown_with_bars(admin_client, production):
    data = {
        "name": "Production",
        "preview_engine": production.preview_engine_id,
        "final_engine": production.final_engine_id,
        "max_latency_ms": 2200,
        "daily_budget_usd": "200",
        "max_attempts": 5,
        "degrade_at_percent": 90,
        "when_spent": "defer",
        "team_budgets": "design: 20\nnews: 5.5",
    }

    response = admin_client.post(reverse("policy:tier-edit", args=["production"]), data)

    assert response.status_code == 302
    assert dict(production.team_budgets.values_list("team", "daily_budget_usd")) == {
        "design": Decimal("20"),
        "news": Decimal("5.5"),
    }
    assert PolicyChange.objects.get(kind="tier").after["team_budgets"] == {"design": "20", "news": "5.5"}
    page = admin_client.get(reverse("policy:tier-list")).content.decode()
    assert "design <small>on Production</small>" in page


def test_tier_edit_bad_team_budget_line_is_refused(admin_client, production):
    data = {
        "name": "Production",
        "preview_engine": production.preview_engine_id,
        "final_engine": production.final_engine_id,
        "max_latency_ms": 2200,
        "daily_budget_usd": "200",
        "max_attempts": 5,
        "degrade_at_percent": 90,
        "when_spent": "defer",
        "team_budgets": "design: -3",
    }

    response = admin_client.post(reverse("policy:tier-edit", args=["production"]), data)

    assert "the design team&#x27;s budget cannot be negative" in response.content.decode()
    assert not production.team_budgets.exists()


def test_tier_list_cost_preview_prices_each_class_at_its_templates_size(admin_client, demo):
    """It priced every class at 1024×1024 and read "a preview preview image"."""
    from apps.catalog.models import Template

    Template.objects.filter(asset_class="preview").update(width=512, height=512)

    page = admin_client.get(reverse("policy:tier-list")).content.decode()

    assert "preview preview" not in page.lower()
    assert "one Preview image on the Preview tier (512×512)" in page
    assert "one Editorial image on the Production tier (768×512)" in page
    assert page.count("(1024×1024)") == page.count("No active template uses this class: priced at 1024×1024.")


def test_audit_log_rows_summarise_what_changed_before_to_after(admin_client, admin_user, production):
    """Rows read only "tier preview" / "import (policy file)": each says briefly what changed."""
    from apps.policy.editing import tier_save
    from apps.policy.policy_file import policy_export, policy_import
    from apps.policy.selectors import tier_snapshot

    before = tier_snapshot(production)
    production.daily_budget_usd = Decimal("150")
    tier_save(tier=production, before=before, by=admin_user)
    data = policy_export()
    data["tiers"]["preview"]["max_attempts"] = 4
    policy_import(data=data, by=admin_user)

    page = admin_client.get(reverse("policy:audit-log")).content.decode()

    rows = [row.split('<td class="changed">')[1].split("</td>")[0] for row in page.split("<tr>")[2:4]]
    assert rows == ["tiers.preview.max_attempts: 2 → 4", "daily_budget_usd: &quot;200&quot; → &quot;150&quot;"]


def test_tier_and_harness_engine_choices_say_simulation_and_benchmark_engine(admin_client):
    """Choosing an engine for a tier or a comparison shows what it is: the choices read
    'Built-in Turbo', 'Null bench' (bare names) while every other page labels them."""
    Engine.objects.create(slug="null-bench", name="Null bench", adapter="null", price_usd=Decimal("0"))

    tier_page = admin_client.get(reverse("policy:tier-edit", args=["production"])).content.decode()
    harness_page = admin_client.get(reverse("harness:comparison-list")).content.decode()

    for page in (tier_page, harness_page):
        assert "Built-in Turbo (simulation)" in page
        assert "Null bench (benchmark engine)" in page
