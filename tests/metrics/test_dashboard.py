from django.urls import reverse

from apps.metrics.selectors import gate_metrics
from apps.moderation import services
from tests.moderation.helpers import review_job


def test_gate_metrics_count_gate_failures_and_moderation_rejects(
    demo, editor, moderator, django_capture_on_commit_callbacks
):
    jobs = [
        review_job(editor=editor, captured=django_capture_on_commit_callbacks, title=t, seed=i)
        for i, t in enumerate(["Spring Sale", "Night Market", "Harbour Lights"])
    ]
    for job in jobs:
        services.claim_take(job=job, by=moderator)
    services.moderation_reject(job=jobs[0], by=moderator, reason="Misspelled")
    services.moderation_approve(job=jobs[1], by=moderator)

    total, per_template = gate_metrics()

    assert (total.renders, total.first_failed, total.sent_to_review) == (3, 3, 3)
    assert (total.approved, total.rejected, total.rerendered) == (1, 1, 0)
    assert total.reject_rate == 0.5
    assert [(r.template, r.renders, r.rejected) for r in per_template] == [("Editorial cover", 3, 1)]


def test_metrics_page_shows_the_gate_numbers(client, demo, editor, moderator, django_capture_on_commit_callbacks):
    job = review_job(editor=editor, captured=django_capture_on_commit_callbacks)
    services.claim_take(job=job, by=moderator)
    services.moderation_reject(job=job, by=moderator, reason="Misspelled")
    client.force_login(moderator)

    body = client.get(reverse("metrics:dashboard")).content.decode()

    assert '<div class="metric-big" id="gate-fail-rate">100 %</div>' in body
    assert '<div class="metric-big" id="reject-rate">100 %</div>' in body
    assert "<td>Editorial cover</td><td>1</td>" in body


def test_metrics_page_needs_the_view_all_permission(client, editor):
    client.force_login(editor)

    assert client.get(reverse("metrics:dashboard")).status_code == 403


def test_metrics_page_labels_the_p95_chart_as_all_tiers_together(client, demo, moderator):
    """The chart mixed tiers under "p95 time to preview and to final", so its top differed from the table's."""
    client.force_login(moderator)

    body = client.get(reverse("metrics:dashboard")).content.decode()

    caption = body.split('<figure class="chart">')[1].split("</figcaption>")[0]
    assert "per 1 h, all tiers&#x27; jobs together" in caption
    assert "the per-tier p95 is in the table above" in caption
    assert "p95 to preview, all tiers</span>" in caption
