"""Undo of an approval or rejection within 30 s: the job back in the queue, the audit kept."""

import os
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from django.urls import reverse
from playwright.sync_api import expect, sync_playwright

from apps.accounts.services import api_token_authenticate, api_token_create
from apps.moderation import selectors, services
from apps.moderation.models import ModerationDecision
from apps.policy.models import BudgetLedger, CostOutcome, Reservation
from apps.renders.models import JobEvent, JobStatus, RenderJob
from tests.conftest import PASSWORD
from tests.e2e.test_editor_browser import CHROMIUM, CHROMIUM_ARGS
from tests.factories import UserFactory
from tests.moderation.helpers import review_job

os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
SHOTS = Path("/tmp/shots/admin-pages")


def _ledger_totals() -> tuple[Decimal, Decimal]:
    rows = BudgetLedger.objects.filter(team="")
    return sum((r.reserved_usd for r in rows), Decimal(0)), sum((r.spent_usd for r in rows), Decimal(0))


@pytest.mark.django_db
def test_moderation_undo_approval_puts_the_job_back_in_the_queue_and_keeps_the_audit(
    demo, editor, moderator, django_capture_on_commit_callbacks
):
    from apps.moderation.undo import moderation_undo  # not on main: imported here

    job = review_job(editor=editor, captured=django_capture_on_commit_callbacks)
    decision = services.moderation_approve(job=job, by=moderator)
    ref = str(job.public_id)
    settled = Reservation.objects.get(ref=ref)
    assert (settled.state, CostOutcome.objects.filter(ref=ref).count()) == ("settled", 1)
    totals = _ledger_totals()

    outcome = moderation_undo(decision=decision, by=moderator)

    job.refresh_from_db()
    reopened = Reservation.objects.get(ref=ref)
    assert (job.status, job.finished_at) == (JobStatus.NEEDS_REVIEW, None)
    assert [item.job.pk for item in selectors.queue().items] == [job.pk]
    assert (reopened.state, reopened.amount_usd, reopened.actual_usd) == ("held", Decimal(0), settled.actual_usd)
    assert CostOutcome.objects.filter(ref=ref).count() == 0
    assert _ledger_totals() == totals  # spent stays spent; nothing is held again
    actions = list(job.moderation_decisions.order_by("created_at").values_list("action", "moderator_id"))
    assert actions == [("claim", moderator.pk), ("approve", moderator.pk), ("undo", moderator.pk)]
    assert outcome.undo.undoes_id == decision.pk
    moves = list(job.events.order_by("created_at").values_list("from_status", "to_status"))[-2:]
    assert moves == [(JobStatus.NEEDS_REVIEW, JobStatus.DELIVERED), (JobStatus.DELIVERED, JobStatus.NEEDS_REVIEW)]
    assert outcome.not_undone.startswith("Not undone: for ")
    assert "showed as delivered on its job page and in the API" in outcome.not_undone


@pytest.mark.django_db
def test_moderation_undo_after_the_window_is_refused_and_the_decision_stands(
    demo, editor, moderator, django_capture_on_commit_callbacks
):
    from apps.moderation.undo import UndoError, moderation_undo  # not on main: imported here

    job = review_job(editor=editor, captured=django_capture_on_commit_callbacks)
    decision = services.moderation_reject(job=job, by=moderator, reason="Misspelled")

    with pytest.raises(UndoError) as refused:
        moderation_undo(decision=decision, by=moderator, now=decision.created_at + timedelta(seconds=31))

    assert str(refused.value) == (
        "Too late to undo: rejected “Harbour Lights Tonight” 31 s ago, and a decision can be undone "
        "only within 30 s. The decision stands."
    )
    assert RenderJob.objects.get(pk=job.pk).status == JobStatus.REJECTED
    assert not ModerationDecision.objects.filter(action="undo").exists()


@pytest.mark.django_db
def test_moderation_undo_refuses_another_moderator_and_a_second_undo(
    demo, editor, moderator, django_capture_on_commit_callbacks
):
    from apps.moderation.undo import UndoError, moderation_undo  # not on main: imported here

    job = review_job(editor=editor, captured=django_capture_on_commit_callbacks)
    decision = services.moderation_approve(job=job, by=moderator)
    other = UserFactory(role="moderator")

    with pytest.raises(UndoError) as not_theirs:
        moderation_undo(decision=decision, by=other)
    moderation_undo(decision=decision, by=moderator)
    with pytest.raises(UndoError) as twice:
        moderation_undo(decision=decision, by=moderator)

    assert str(not_theirs.value) == "Only the moderator who made a decision can undo it."
    assert str(twice.value) == "Approved “Harbour Lights Tonight” was already undone."
    assert JobEvent.objects.filter(job=job, to_status=JobStatus.NEEDS_REVIEW).count() == 2  # gate, undo


@pytest.mark.django_db
def test_moderation_undo_then_reject_settles_the_budget_once(
    demo, editor, moderator, django_capture_on_commit_callbacks
):
    from apps.moderation.undo import moderation_undo  # not on main: imported here

    job = review_job(editor=editor, captured=django_capture_on_commit_callbacks)
    moderation_undo(decision=services.moderation_approve(job=job, by=moderator), by=moderator)
    totals = _ledger_totals()

    services.moderation_reject(job=RenderJob.objects.get(pk=job.pk), by=moderator, reason="Misspelled after all")

    assert RenderJob.objects.get(pk=job.pk).status == JobStatus.REJECTED
    assert Reservation.objects.get(ref=str(job.public_id)).state == "settled"
    assert _ledger_totals() == totals
    assert list(CostOutcome.objects.filter(ref=str(job.public_id)).values_list("delivered", flat=True)) == [False]


@pytest.mark.django_db
def test_moderation_undo_names_the_submitters_api_token_used_since_the_approval(
    demo, editor, moderator, django_capture_on_commit_callbacks
):
    from apps.moderation.undo import moderation_undo  # not on main: imported here

    job = review_job(editor=editor, captured=django_capture_on_commit_callbacks)
    key = api_token_create(user=editor, name="cms")
    decision = services.moderation_approve(job=job, by=moderator)
    api_token_authenticate(key=key)  # a client polls the job after the approval

    outcome = moderation_undo(decision=decision, by=moderator)

    assert outcome.not_undone.endswith(
        "The submitter's API token was used since the decision, so a client may have fetched it."
    )


@pytest.mark.django_db
def test_undo_view_after_bulk_approve_reopens_both_and_says_what_it_cannot_undo(
    client, demo, editor, moderator, django_capture_on_commit_callbacks
):
    jobs = [
        review_job(editor=editor, captured=django_capture_on_commit_callbacks, title=t, seed=i)
        for i, t in enumerate(["Spring Sale", "Night Market"])
    ]
    client.force_login(moderator)
    page = client.post(
        reverse("moderation:bulk"), {"job": [str(j.public_id) for j in jobs], "action": "approve"}, follow=True
    ).content.decode()
    ids = list(ModerationDecision.objects.filter(action="approve").values_list("pk", flat=True))

    body = client.post(reverse("moderation:undo"), {"decision": ids}, follow=True).content.decode()

    assert '<span id="undo-text">Approved 2 renders</span>' in page
    assert 'id="undo-button"' in page
    assert [RenderJob.objects.get(pk=j.pk).status for j in jobs] == [JobStatus.NEEDS_REVIEW] * 2
    assert "Undone: “Spring Sale”, “Night Market” are back in the queue." in body
    assert "“Spring Sale” showed as delivered on its job page and in the API" in body
    assert "2 waiting · 2 shown" in body
    assert 'id="undo-bar"' not in body


@pytest.mark.django_db
def test_undo_view_after_thirty_seconds_refuses_with_a_clear_message(
    client, demo, editor, moderator, django_capture_on_commit_callbacks
):
    job = review_job(editor=editor, captured=django_capture_on_commit_callbacks)
    client.force_login(moderator)
    client.post(reverse("moderation:approve", args=[job.public_id]))
    decision = ModerationDecision.objects.get(action="approve")
    ModerationDecision.objects.filter(pk=decision.pk).update(created_at=decision.created_at - timedelta(seconds=45))

    body = client.post(reverse("moderation:undo"), {"decision": [decision.pk]}, follow=True).content.decode()

    assert "Too late to undo: approved “Harbour Lights Tonight” 45 s ago" in body
    assert RenderJob.objects.get(pk=job.pk).status == JobStatus.DELIVERED
    assert 'id="undo-bar"' not in body  # the window is over: no bar offered any more


@pytest.mark.e2e
@pytest.mark.django_db(transaction=True)
def test_moderator_approves_by_key_and_undoes_by_key_in_a_browser(
    live_server, demo, editor, moderator, monkeypatch, django_capture_on_commit_callbacks
):
    monkeypatch.setattr("apps.renders.pipeline.enqueue.attempt_run", lambda attempt: None)
    monkeypatch.setattr("apps.renders.pipeline.enqueue.attempt_verify", lambda attempt: None)
    job = review_job(editor=editor, captured=django_capture_on_commit_callbacks)
    SHOTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1300, "height": 900})
        errors: list[str] = []
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        page.goto(f"{live_server.url}/accounts/login/?next=/moderation/")
        page.fill("#id_username", moderator.username)
        page.fill("#id_password", PASSWORD)
        page.click("main button[type=submit]")
        expect(page.locator("#queue-total")).to_have_text("1 waiting · 1 shown")
        page.wait_for_load_state("load")  # the shortcuts' script (deferred) is in place
        page.keyboard.press("n")
        expect(page.locator("#claim-state")).to_contain_text("You are working on this job")
        page.wait_for_load_state("load")
        page.keyboard.press("a")  # approve → the queue (now empty) with the undo bar
        expect(page.locator("#undo-bar")).to_contain_text("Approved “Harbour Lights Tonight” — Undo")
        expect(page.locator("#queue-total")).to_have_text("0 waiting · 0 shown")
        page.screenshot(path=str(SHOTS / "moderation-undo-bar.png"), full_page=True)
        page.wait_for_load_state("load")
        page.keyboard.press("u")
        expect(page.locator(".messages")).to_contain_text("Undone: “Harbour Lights Tonight” is back in the queue.")
        expect(page.locator("#queue-total")).to_have_text("1 waiting · 1 shown")
        expect(page.locator("#undo-bar")).to_have_count(0)
        page.screenshot(path=str(SHOTS / "moderation-undone.png"), full_page=True)
        # Decided again; the bar is still on the page when the window has passed (here: the
        # decision is dated 45 s back), so the server refuses the undo and says why.
        page.click("#next-button")
        expect(page.locator("#claim-state")).to_contain_text("You are working on this job")
        page.click("#approve-button")
        expect(page.locator("#undo-bar")).to_be_visible()
        late = ModerationDecision.objects.filter(action="approve").latest("created_at")
        ModerationDecision.objects.filter(pk=late.pk).update(created_at=late.created_at - timedelta(seconds=45))
        page.click("#undo-button")
        expect(page.locator(".messages")).to_contain_text("Too late to undo: approved “Harbour Lights Tonight” 4")
        page.screenshot(path=str(SHOTS / "moderation-undo-too-late.png"), full_page=True)
        browser.close()

    assert RenderJob.objects.get(pk=job.pk).status == JobStatus.DELIVERED
    assert errors == []


@pytest.mark.e2e
@pytest.mark.django_db(transaction=True)
def test_moderator_undoes_a_bulk_rejection_without_javascript(
    live_server, demo, editor, moderator, monkeypatch, django_capture_on_commit_callbacks
):
    monkeypatch.setattr("apps.renders.pipeline.enqueue.attempt_run", lambda attempt: None)
    monkeypatch.setattr("apps.renders.pipeline.enqueue.attempt_verify", lambda attempt: None)
    jobs = [
        review_job(editor=editor, captured=django_capture_on_commit_callbacks, title=t, seed=i)
        for i, t in enumerate(["Spring Sale", "Night Market"])
    ]
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        page = browser.new_context(java_script_enabled=False, viewport={"width": 1300, "height": 900}).new_page()
        page.goto(f"{live_server.url}/accounts/login/?next=/moderation/")
        page.fill("#id_username", moderator.username)
        page.fill("#id_password", PASSWORD)
        page.click("main button[type=submit]")
        page.locator("#queue-list tbody input[type=checkbox]").nth(0).check()
        page.locator("#queue-list tbody input[type=checkbox]").nth(1).check()
        page.fill("#bulk-form input[name=reason]", "Misspelled")
        page.click("#bulk-reject")
        expect(page.locator("#undo-bar")).to_contain_text("Rejected 2 renders — Undo")
        page.click("#undo-button")
        expect(page.locator(".messages")).to_contain_text(
            "Undone: “Spring Sale”, “Night Market” are back in the queue."
        )
        expect(page.locator("#queue-total")).to_have_text("2 waiting · 2 shown")
        page.screenshot(path=str(SHOTS / "moderation-undone-nojs.png"), full_page=True)
        browser.close()

    assert [RenderJob.objects.get(pk=j.pk).status for j in jobs] == [JobStatus.NEEDS_REVIEW] * 2


@pytest.mark.django_db
def test_moderation_undo_puts_the_job_back_where_it_waited_not_at_the_end(
    demo, editor, moderator, django_capture_on_commit_callbacks
):
    """The queue is oldest first by the time a job has waited; an undone approval moved the
    job to the end of the queue and its 'Waiting since' to the moment of the undo."""
    from apps.moderation.undo import moderation_undo

    first = review_job(editor=editor, captured=django_capture_on_commit_callbacks)
    second = review_job(editor=editor, captured=django_capture_on_commit_callbacks)
    entered = JobEvent.objects.filter(job=first, to_status=JobStatus.NEEDS_REVIEW).latest("created_at").created_at
    decision = services.moderation_approve(job=first, by=moderator)

    moderation_undo(decision=decision, by=moderator)

    first.refresh_from_db()
    assert [item.job.pk for item in selectors.queue().items] == [first.pk, second.pk]
    assert first.updated_at == entered
