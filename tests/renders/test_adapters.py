"""Each attempt records the template's adapter: applied (and sent to the engine), not applied
because the engine cannot use one (and the job page says so), or left off on purpose; the
renders split by adapter for the metrics."""

from decimal import Decimal

import pytest

from apps.catalog.models import Adapter, Template
from apps.catalog.services import template_set_adapter
from apps.engines.models import AdapterKind, Engine
from apps.renders.adapter_metrics import WITHOUT, adapter_arms, arm_deltas
from apps.renders.models import AdapterUse, JobEvent, JobStatus, RenderAttempt, RenderJob, Stage
from apps.renders.pipeline.submit import job_submit
from apps.verification.models import VerificationResult
from tests.moderation.helpers import run_pending, typo_engine


@pytest.fixture(autouse=True)
def _no_simulated_wait(settings):  # type: ignore[no-untyped-def]
    settings.RENDERHUB_BUILTIN_LATENCY_SCALE = 0


@pytest.fixture
def cover(demo, admin_user):  # type: ignore[no-untyped-def]
    template = Template.objects.get(slug="editorial-cover")
    template_set_adapter(
        template=template, adapter=Adapter.objects.get(slug="cover-typography-sim"), strength=1.0, by=admin_user
    )
    return template


def _submit(template, editor, engine, captured, *, adapter_off=False, seed=3):  # type: ignore[no-untyped-def]
    with captured(execute=False):
        return job_submit(
            submitted_by=editor,
            template=template,
            texts={"title": "Harbour Lights"},
            seed=seed,
            engine=engine,
            with_preview=False,
            adapter_off=adapter_off,
        )


def test_attempt_applies_the_adapter_and_the_engine_receives_it(cover, editor, django_capture_on_commit_callbacks):
    job = _submit(cover, editor, typo_engine(), django_capture_on_commit_callbacks)

    job = run_pending(job, django_capture_on_commit_callbacks)

    first = job.attempts.order_by("number").first()
    assert (first.adapter.slug, first.adapter_use, first.adapter_strength) == ("cover-typography-sim", "applied", 1.0)
    # The simulation got the reference: its typo rate fell from 1.0 to the adapter's 0.2.
    assert first.sent["simulation"]["typo_rate"] == pytest.approx(0.2)
    assert first.sent["simulation"]["adapter"].startswith("simulated adapter")


def test_attempt_without_adapter_on_purpose_records_off(cover, editor, django_capture_on_commit_callbacks):
    job = _submit(cover, editor, typo_engine(), django_capture_on_commit_callbacks, adapter_off=True)

    job = run_pending(job, django_capture_on_commit_callbacks)

    first = job.attempts.order_by("number").first()
    assert (first.adapter.slug, first.adapter_use, first.adapter_strength) == ("cover-typography-sim", "off", None)
    assert first.sent["simulation"]["typo_rate"] == 1.0
    assert "adapter" not in first.sent["simulation"]


def test_attempt_on_an_engine_without_adapters_records_not_applied_and_the_page_says_so(
    cover, editor, client, django_capture_on_commit_callbacks
):
    vendor = Engine.objects.create(
        slug="gpt", name="GPT image", adapter=AdapterKind.OPENAI, model_id="gpt-image-2", price_usd=Decimal("0.04")
    )
    job = _submit(cover, editor, vendor, django_capture_on_commit_callbacks)

    assert job.admission == "admitted", job.admission_reason
    attempt = job.attempts.get()
    client.force_login(editor)
    page = client.get(f"/renders/{job.public_id}/").content.decode()

    assert (attempt.adapter.slug, attempt.adapter_use, attempt.adapter_strength) == (
        "cover-typography-sim",
        "unsupported",
        None,
    )
    note = page.split('id="job-adapter"')[1].split("</dd>")[0]
    assert "was NOT applied on GPT image" in note
    assert "OpenAI" in note  # and why


def test_job_page_says_which_adapter_was_applied(cover, editor, client, django_capture_on_commit_callbacks):
    job = _submit(cover, editor, typo_engine(), django_capture_on_commit_callbacks)
    client.force_login(editor)

    page = client.get(f"/renders/{job.public_id}/").content.decode()

    assert "Cover typography (simulated) applied on Always misspells (simulation) at strength 1." in page


def test_template_without_adapter_records_none(demo, editor, django_capture_on_commit_callbacks):
    template = Template.objects.get(slug="editorial-cover")

    job = _submit(template, editor, typo_engine(), django_capture_on_commit_callbacks)

    attempt = job.attempts.get()
    assert (attempt.adapter, attempt.adapter_use, attempt.adapter_strength) == (None, AdapterUse.NONE, None)


def _job(template, editor, engine, *, status, cost, finals, reviewed=False):  # type: ignore[no-untyped-def]
    """A job with final attempts given as [(adapter_use, verdict)] — only what the split reads."""
    job = RenderJob.objects.create(
        template=template,
        prompt="p",
        seed=1,
        width=64,
        height=64,
        tier=template_tier(),
        submitted_by=editor,
        status=status,
        actual_cost_usd=Decimal(cost),
    )
    for number, (use, verdict) in enumerate(finals, start=1):
        verification = VerificationResult.objects.create(verdict=verdict) if verdict else None
        RenderAttempt.objects.create(
            job=job,
            number=number,
            stage=Stage.FINAL,
            engine=engine,
            prompt="p",
            seed=1,
            requested_size="64x64",
            adapter=template.adapter if use else None,
            adapter_use=use,
            verification=verification,
        )
    if reviewed:
        JobEvent.objects.create(job=job, to_status=JobStatus.NEEDS_REVIEW)
    return job


def template_tier():  # type: ignore[no-untyped-def]
    from apps.policy.models import Tier

    return Tier.objects.get(slug="preview")


def test_adapter_arms_split_by_the_first_final_attempts_adapter(cover, editor):
    engine = typo_engine()
    D, R, N = JobStatus.DELIVERED, JobStatus.REJECTED, JobStatus.NEEDS_REVIEW
    # Without: 1 of 3 first passes, 2 escalations, 1 of 2 reviewed rejected, $0.30 over 2 delivered.
    _job(cover, editor, engine, status=D, cost="0.10", finals=[("off", "pass")])
    _job(cover, editor, engine, status=D, cost="0.08", finals=[("", "fail"), ("", "pass")])
    _job(cover, editor, engine, status=R, cost="0.12", finals=[("unsupported", "fail"), ("", "fail")], reviewed=True)
    _job(cover, editor, engine, status=N, cost="0", finals=[("off", "review")], reviewed=True)  # review ≠ pass
    # With: 2 of 2 first passes, no escalation, $0.08 over 2 delivered.
    _job(cover, editor, engine, status=D, cost="0.04", finals=[("applied", "pass")])
    _job(cover, editor, engine, status=D, cost="0.04", finals=[("applied", "pass")])
    RenderJob.objects.create(  # never reached a final: not counted
        template=cover, prompt="p", seed=1, width=64, height=64, tier=template_tier(), submitted_by=editor
    )

    without, with_it = adapter_arms(jobs=RenderJob.objects.filter(template=cover))

    assert (without.key, without.jobs, without.judged, without.first_pass) == (WITHOUT, 4, 4, 1)
    assert (without.escalations, without.escalated, without.reviewed, without.rejected) == (2, 2, 2, 1)
    assert (without.not_applied, without.left_off, without.delivered) == (1, 2, 2)
    assert without.cost_per_delivered == Decimal("0.1500")
    assert (with_it.key, with_it.label, with_it.jobs, with_it.first_pass_rate) == (
        "cover-typography-sim",
        "With Cover typography (simulated)",
        2,
        1.0,
    )
    assert with_it.cost_per_delivered == Decimal("0.0400")
    ((_, delta),) = arm_deltas([without, with_it])
    assert delta.first_pass_rate == pytest.approx(0.75)
    assert delta.escalations_per_job == pytest.approx(-0.5)
    assert delta.cost_per_delivered == Decimal("-0.1100")
    assert delta.reject_rate is None  # nothing of the adapter's was reviewed


def test_metrics_page_shows_the_split_and_the_difference(cover, editor, moderator, client):
    engine = typo_engine()
    _job(cover, editor, engine, status=JobStatus.DELIVERED, cost="0.10", finals=[("off", "fail"), ("off", "pass")])
    _job(cover, editor, engine, status=JobStatus.DELIVERED, cost="0.04", finals=[("applied", "pass")])
    client.force_login(moderator)

    page = client.get(f"/metrics/templates/{cover.slug}/adapters/").content.decode()

    assert "Without adapter" in page and "With Cover typography (simulated)" in page
    delta = page.split('class="delta"')[1].split("</tr>")[0]
    assert "+100 pts" in delta  # first-pass rate 0 % → 100 %
    assert "−$0.06" in delta  # cost per delivered image
    without = page.split('data-arm="without"')[1].split("</tr>")[0]
    # One escalation in one of the arm's renders (it read "1 in 1 render", and "0 in 0 renders"
    # beside Renders 1 when none escalated).
    assert "1 in 1 of 1 render<" in without


def test_job_api_reports_each_attempts_adapter(cover, editor, client, django_capture_on_commit_callbacks):
    from apps.accounts.services import api_token_create

    job = _submit(cover, editor, typo_engine(), django_capture_on_commit_callbacks)
    token = api_token_create(user=editor, name="t")

    body = client.get(f"/api/v1/renders/{job.public_id}", HTTP_AUTHORIZATION=f"Bearer {token}").json()

    assert body["attempts"][0]["adapter"] == {"slug": "cover-typography-sim", "use": "applied", "strength": 1.0}


def test_attempt_on_the_simulation_with_a_reference_it_does_not_know_records_not_applied(
    demo, editor, admin_user, client, django_capture_on_commit_callbacks
):
    """The simulation ignores an adapter reference it does not know (its typo rate stays):
    the attempt, the job page and the template page said 'applied' / 'yes' all the same."""
    template = Template.objects.get(slug="editorial-cover")
    lora = Adapter.objects.create(
        slug="headline", name="Headline LoRA", base_model="sdxl-1.0", reference="headline_v2.safetensors"
    )
    template_set_adapter(template=template, adapter=lora, strength=None, by=admin_user)
    job = _submit(template, editor, typo_engine(), django_capture_on_commit_callbacks)
    job = run_pending(job, django_capture_on_commit_callbacks)
    client.force_login(admin_user)

    first = job.attempts.order_by("number").first()
    job_page = client.get(f"/renders/{job.public_id}/").content.decode()
    template_page = client.get(f"/templates/{template.slug}/").content.decode()

    assert (first.adapter_use, first.adapter_strength, first.sent["simulation"]["typo_rate"]) == (
        "unsupported",
        None,
        1.0,
    )
    note = job_page.split('id="job-adapter"')[1].split("</dd>")[0]
    assert "Headline LoRA was NOT applied on Always misspells (simulation)" in note
    assert "it ignores &#x27;headline_v2.safetensors&#x27;" in note
    banner = template_page.split('id="adapter-not-applied"')[1].split("</p>")[0]
    assert "Built-in Ultra (simulation)" in banner
