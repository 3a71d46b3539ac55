import pytest
from django.urls import reverse

from apps.engines.models import Engine
from apps.harness import services
from apps.harness.models import Comparison
from apps.policy.models import Tier
from apps.renders.models import JobStatus
from tests.conftest import wait_for

pytestmark = pytest.mark.django_db


def _create(user, **kw):  # type: ignore[no-untyped-def]
    args = {
        "name": "Turbo vs Ultra",
        "engines": list(Engine.objects.filter(slug__in=["builtin-turbo", "builtin-ultra"])),
        "prompts": ['a poster that says "SALE"'],
        "seeds": [1, 2],
        "width": 384,
        "height": 256,
        "tier": Tier.objects.get(slug="production"),
        "by": user,
    }
    return services.comparison_create(**{**args, **kw})


def test_comparison_create_makes_one_pinned_final_job_per_cell(demo, admin_user, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=False):
        comparison = _create(admin_user)

    cells = list(comparison.cells.select_related("job", "engine"))
    assert len(cells) == 4
    assert {(c.seed, c.engine.slug) for c in cells} == {
        (s, e) for s in (1, 2) for e in ("builtin-turbo", "builtin-ultra")
    }
    assert all(c.job.engine_id == c.engine_id and not c.job.with_preview for c in cells)
    assert all(c.job.attempts.get().stage == "final" for c in cells)


def test_comparison_create_refuses_an_empty_or_huge_grid(demo, admin_user):
    with pytest.raises(services.ComparisonError, match="at least one engine"):
        _create(admin_user, engines=[])
    with pytest.raises(services.ComparisonError, match="more than"):
        _create(admin_user, seeds=list(range(40)))
    assert Comparison.objects.count() == 0


def test_harness_pages_are_for_admins_only(client, demo, editor, admin_user):
    client.force_login(editor)
    assert client.get(reverse("harness:comparison-list")).status_code == 403
    client.force_login(admin_user)
    assert client.get(reverse("harness:comparison-list")).status_code == 200


@pytest.mark.e2e
@pytest.mark.django_db(transaction=True)
def test_comparison_renders_side_by_side_with_differences(client, celery_workers, demo, admin_user):
    comparison = _create(admin_user)

    wait_for(
        lambda: all(
            c.job.status in {JobStatus.DELIVERED, JobStatus.NEEDS_REVIEW}
            for c in comparison.cells.select_related("job")
        ),
        timeout=60,
    )
    rows = services.comparison_grid(comparison)

    assert [(r.seed, len(r.cells)) for r in rows] == [(1, 2), (2, 2)]
    for row in rows:
        first, second = row.cells
        assert first.difference is None
        assert second.difference is not None and second.difference > 0
        assert {"engine", "verify"} <= set(second.attempt.timings_ms)
    client.force_login(admin_user)
    page = client.get(reverse("harness:comparison-detail", args=[comparison.public_id]), HTTP_HX_REQUEST="true")
    assert page.status_code == 286
    diff = client.get(reverse("harness:cell-diff", args=[comparison.public_id, rows[0].cells[1].cell_id]))
    assert diff.status_code == 200
    assert diff.content.startswith(b"\x89PNG")


def test_comparison_grid_computes_no_differences_while_renders_run(
    demo, admin_user, django_capture_on_commit_callbacks, monkeypatch
):
    with django_capture_on_commit_callbacks(execute=False):
        comparison = _create(admin_user)
    calls: list[object] = []
    monkeypatch.setattr(services, "image_difference", lambda a, b: calls.append((a, b)) or 1.0)
    # Every cell already has an image, but the jobs are still rendering.
    for cell in comparison.cells.select_related("job"):
        _settle(cell, verdict="pass")

    rows = services.comparison_grid(comparison)

    assert calls == []
    assert all(cell.difference is None for row in rows for cell in row.cells)


def _settle(cell, *, verdict: str, cost: str = "0.01", engine_ms: float = 300.0):  # type: ignore[no-untyped-def]
    """Give a cell's first attempt an image and a verdict, as a worker would."""
    from decimal import Decimal

    from django.core.files.base import ContentFile

    from apps.renders.models import AttemptStatus
    from apps.verification.models import VerificationResult
    from tests.verification.images import title_card

    attempt = cell.job.attempts.get(number=1)
    attempt.image.save(f"cell{cell.pk}.png", ContentFile(title_card("SALE")), save=False)
    attempt.verification = VerificationResult.objects.create(verdict=verdict, ocr_text="SALE")
    attempt.status = AttemptStatus.PASSED if verdict == "pass" else AttemptStatus.FAILED
    attempt.cost_usd = Decimal(cost)
    attempt.timings_ms = {"engine": engine_ms}
    attempt.save()
    return attempt


def test_comparison_cell_keeps_the_engines_own_result_after_escalation(
    client, demo, admin_user, django_capture_on_commit_callbacks
):
    """A failed cell escalated to a new seed on another engine and passed: the cell still shows
    its engine's own failed render at its own seed, and Δ compares same-seed renders only."""
    from django.core.files.base import ContentFile

    from apps.renders.models import AttemptStatus, RenderAttempt
    from tests.verification.images import title_card

    with django_capture_on_commit_callbacks(execute=False):
        comparison = _create(admin_user, seeds=[2])
    turbo, ultra = comparison.cells.select_related("job", "engine").order_by("engine__slug")
    _settle(turbo, verdict="fail", engine_ms=250)
    _settle(ultra, verdict="pass", cost="0.04", engine_ms=1500)
    rescue = RenderAttempt.objects.create(
        job=turbo.job, number=2, stage="final", step="engine", engine=Engine.objects.get(slug="builtin-typography"),
        prompt="p", seed=3, requested_size="384x256", status=AttemptStatus.PASSED,
    )
    rescue.image.save("rescue.png", ContentFile(title_card("SALE", background=(0, 0, 0))), save=True)
    for cell in (turbo, ultra):
        type(cell.job).objects.filter(pk=cell.job.pk).update(status=JobStatus.DELIVERED)

    rows = services.comparison_grid(comparison)
    summary = {s.engine.slug: s for s in services.comparison_summary(rows)}

    turbo_view = rows[0].cells[0]
    assert (turbo_view.engine.slug, turbo_view.attempt.seed, turbo_view.verdict) == ("builtin-turbo", 2, "fail")
    assert turbo_view.later_attempts == 1
    assert rows[0].cells[1].difference is not None
    assert (summary["builtin-turbo"].passed, summary["builtin-turbo"].failed) == (0, 1)
    assert (summary["builtin-ultra"].pass_rate, str(summary["builtin-ultra"].cost_per_image)) == (1.0, "0.0400")
    client.force_login(admin_user)
    body = client.get(reverse("harness:comparison-detail", args=[comparison.public_id])).content.decode()
    assert '<span class="badge verdict-fail">fail</span>' in body
    assert "1 re-render by the pipeline (not shown)" in body
    assert 'id="engine-summary"' in body
