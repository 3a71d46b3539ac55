"""The three numbers over a time window: latency against budgets, gate outcomes, cost per image."""

from datetime import timedelta
from decimal import Decimal

from django.urls import reverse
from django.utils import timezone

from apps.engines.models import Engine
from apps.metrics.ops import ops_metrics, percentiles
from apps.moderation.models import ModerationDecision
from apps.policy.models import Tier
from apps.renders.models import AttemptStatus, JobStatus, RenderAttempt, RenderJob, Stage
from apps.verification.models import VerificationResult


def _job(
    *,
    user,
    tier_slug: str,
    source: str = "web",
    status=JobStatus.DELIVERED,
    preview_ms=None,
    final_ms=None,
    age=timedelta(minutes=10),
    attempts=(),
    auto_final=None,
):  # type: ignore[no-untyped-def]
    tier = Tier.objects.get(slug=tier_slug)
    created = timezone.now() - age
    job = RenderJob.objects.create(
        prompt="p",
        seed=1,
        width=768,
        height=512,
        tier=tier,
        source=source,
        status=status,
        auto_final=tier.auto_final if auto_final is None else auto_final,
        submitted_by=user,
    )
    fields = {"created_at": created}
    if preview_ms is not None:
        fields["preview_ready_at"] = created + timedelta(milliseconds=preview_ms)
    if final_ms is not None:
        fields["finished_at"] = created + timedelta(milliseconds=final_ms)
    RenderJob.objects.filter(pk=job.pk).update(**fields)
    for number, (stage, step, cost, verdict, engine_ms) in enumerate(attempts, start=1):
        verification = VerificationResult.objects.create(verdict=verdict) if verdict else None
        attempt = RenderAttempt.objects.create(
            job=job,
            number=number,
            stage=stage,
            step=step,
            engine=tier.final_engine if stage == Stage.FINAL else tier.preview_engine,
            prompt="p",
            seed=1,
            requested_size="768x512",
            status=AttemptStatus.PASSED,
            cost_usd=Decimal(cost),
            timings_ms={"engine": engine_ms},
            verification=verification,
        )
        RenderAttempt.objects.filter(pk=attempt.pk).update(created_at=created + timedelta(milliseconds=10 * number))
    return job


def test_percentiles_nearest_rank():
    result = percentiles([float(v) for v in range(1, 101)])

    assert (result.n, result.p50, result.p95, result.p99) == (100, 50.0, 95.0, 99.0)
    assert percentiles([]).p95 is None


def test_ops_metrics_latency_against_budget_per_tier(demo, editor):
    # production: budget 2200 ms to the final; preview tier: 800 ms to the preview.
    for final_ms in (1500, 2000, 3000, 5000):
        _job(
            user=editor,
            tier_slug="production",
            preview_ms=400,
            final_ms=final_ms,
            attempts=[(Stage.PREVIEW, "initial", "0.01", "pass", 300), (Stage.FINAL, "initial", "0.04", "pass", 1400)],
        )
    for preview_ms in (500, 900):
        _job(
            user=editor,
            tier_slug="preview",
            status=JobStatus.PREVIEW_READY,
            preview_ms=preview_ms,
            attempts=[(Stage.PREVIEW, "initial", "0.01", "pass", 300)],
        )

    figures = ops_metrics(range_="day")

    rows = {r.name: r for r in figures.latency}
    production = rows[Tier.objects.get(slug="production").name]
    preview = rows[Tier.objects.get(slug="preview").name]
    assert (production.budget_stage, production.measured, production.misses) == ("final", 4, 2)
    assert (production.to_final.p50, production.to_final.p99) == (2000.0, 5000.0)
    assert (preview.budget_stage, preview.measured, preview.misses) == ("preview", 2, 1)
    assert preview.to_final.n == 0


def test_ops_metrics_cost_per_delivered_counts_every_attempt(demo, editor):
    _job(
        user=editor,
        tier_slug="production",
        preview_ms=400,
        final_ms=2000,
        attempts=[
            (Stage.PREVIEW, "initial", "0.01", "pass", 300),
            (Stage.FINAL, "initial", "0.04", "fail", 1400),
            (Stage.FINAL, "guidance", "0.04", "pass", 1400),
        ],
    )
    _job(
        user=editor,
        tier_slug="production",
        status=JobStatus.FAILED,
        preview_ms=400,
        attempts=[(Stage.PREVIEW, "initial", "0.01", "fail", 300)],
    )

    figures = ops_metrics(range_="day")

    # $0.10 for one delivered image: the failed job's attempt and the escalation count too.
    assert figures.cost_total.spent == Decimal("0.1000")
    assert figures.cost_total.delivered == 1
    assert figures.cost_total.per_delivered == Decimal("0.1000")
    assert figures.gate.first_final == {"fail": 1}
    assert figures.gate.first_preview == {"pass": 1, "fail": 1}
    assert figures.gate.escalations == 1


def test_ops_metrics_keeps_sources_apart_and_honours_the_range(demo, editor, moderator):
    _job(user=editor, tier_slug="production", source="web", preview_ms=400, final_ms=2000)
    _job(user=editor, tier_slug="production", source="api", preview_ms=400, final_ms=2000)
    _job(user=editor, tier_slug="production", source="harness", preview_ms=400, final_ms=2000)
    old = _job(user=editor, tier_slug="production", source="web", preview_ms=400, final_ms=2000, age=timedelta(hours=3))
    ModerationDecision.objects.create(job=old, moderator=moderator, action=ModerationDecision.Action.REJECT)

    day = ops_metrics(range_="day", source="web")
    hour = ops_metrics(range_="hour")

    assert day.by_source == {"web": 2, "api": 1, "harness": 1}
    assert day.jobs == 2
    assert day.gate.rejected == 1
    assert hour.jobs == 3
    assert hour.gate.rejected == 0
    assert len(hour.series) == 12


def test_metrics_page_shows_latency_cost_and_charts(client, demo, editor, moderator):
    _job(
        user=editor,
        tier_slug="production",
        preview_ms=400,
        final_ms=3000,
        attempts=[(Stage.PREVIEW, "initial", "0.01", "pass", 300), (Stage.FINAL, "initial", "0.04", "pass", 1400)],
    )
    client.force_login(moderator)

    body = client.get(reverse("metrics:dashboard"), {"range": "hour", "source": "web"}).content.decode()

    assert '<div class="metric-big" id="cost-per-image">$0.05</div>' in body
    assert "<td>1</td>\n        <td>1 (100 %)</td>" in body  # one job measured, one over budget
    assert "<polyline" in body and "<rect" in body
    assert '<option value="hour" selected>' in body


def test_metrics_page_ignores_unknown_range_and_source(client, demo, moderator):
    client.force_login(moderator)

    response = client.get(reverse("metrics:dashboard"), {"range": "year", "source": "<x>"})

    assert response.status_code == 200
    assert '<option value="day" selected>' in response.content.decode()


def test_ops_metrics_engine_rows_say_simulation_for_the_built_in_engines(demo, editor):
    """Every page that shows a built-in engine labels it a simulation (README)."""
    _job(
        user=editor,
        tier_slug="production",
        preview_ms=400,
        final_ms=2000,
        attempts=[(Stage.PREVIEW, "initial", "0.01", "pass", 300), (Stage.FINAL, "initial", "0.04", "pass", 1400)],
    )

    figures = ops_metrics(range_="day")

    assert [r.name for r in figures.engines] == [
        "Built-in Turbo (simulation) · preview",
        "Built-in Ultra (simulation) · final",
    ]


def test_ops_metrics_engine_rows_say_benchmark_engine_for_the_null_engine(demo, editor):
    """The null engine is a benchmark wherever it shows (Engine.label), also in engine call
    times: it read 'Null (simulation)' there, or its bare name when not flagged a simulation."""
    null = Engine.objects.create(slug="bench-null", name="Null", adapter="null", price_usd=Decimal("0"))
    Tier.objects.filter(slug="production").update(preview_engine=null)
    _job(
        user=editor,
        tier_slug="production",
        preview_ms=10,
        final_ms=2000,
        attempts=[(Stage.PREVIEW, "initial", "0", "pass", 1), (Stage.FINAL, "initial", "0.04", "pass", 1400)],
    )

    figures = ops_metrics(range_="day")

    assert [r.name for r in figures.engines] == [
        "Built-in Ultra (simulation) · final",
        "Null (benchmark engine) · preview",
    ]
