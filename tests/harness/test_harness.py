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
    monkeypatch.setattr(services, "job_best_attempt", lambda job: object())

    rows = services.comparison_grid(comparison)

    assert calls == []
    assert all(cell.difference is None for row in rows for cell in row.cells)
