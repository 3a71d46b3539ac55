"""Every cent true: attempts booked at what the adapter sent and the vendor billed, one truth
for spend (job = its attempts, ledger = the billed attempts, `budget reconcile`), holds before
every spend, and fallbacks that never pass a simulation off as a vendor's picture.

Vendors are the local fakes speaking their wire format (tests/engines/fakes.py), called
in-process by `attempt_run`."""

from collections.abc import Iterator
from decimal import Decimal

import pytest
from django.core.management import CommandError, call_command

from apps.accounts.services import api_token_create
from apps.engines.models import Engine
from apps.engines.selectors import engine_health
from apps.policy import services as policy
from apps.policy.models import BudgetLedger, Tier, WhenSpent
from apps.renders.models import AttemptStatus, JobStatus, RenderAttempt, RenderJob
from apps.renders.pipeline.decisions import BudgetError, job_force_rerender
from apps.renders.pipeline.outcome import attempt_conclude
from apps.renders.pipeline.run import attempt_fail, attempt_run
from apps.renders.pipeline.state import job_finish
from apps.renders.pipeline.submit import job_submit
from tests.engines import fakes
from tests.engines.conftest import engine_for

GPT1_TABLE = {"1024x1024": {"low": "0.011", "medium": "0.042", "high": "0.167"}}
DALLE_TABLE = {"1024x1024": {"standard": "0.04", "hd": "0.08"}, "1792x1024": {"standard": "0.08", "hd": "0.12"}}


@pytest.fixture(autouse=True)
def _fast(settings):  # type: ignore[no-untyped-def]
    settings.RENDERHUB_BUILTIN_LATENCY_SCALE = 0
    if "127.0.0.1" not in settings.RENDERHUB_ENGINE_HOST_ALLOWLIST:
        settings.RENDERHUB_ENGINE_HOST_ALLOWLIST = [*settings.RENDERHUB_ENGINE_HOST_ALLOWLIST, "127.0.0.1"]


@pytest.fixture
def openai_fake() -> Iterator[fakes.OpenAIFake]:
    fake = fakes.OpenAIFake()
    try:
        yield fake
    finally:
        fake.close()


def vendor_tier(engine: Engine, **fields) -> Tier:  # type: ignore[no-untyped-def]
    """A tier rendering on `engine`, falling back to the built-in simulation, no OCR."""
    return Tier.objects.create(
        slug=fields.pop("slug", "vendor"),
        name="Vendor",
        preview_engine=engine,
        final_engine=engine,
        fallback_engine=Engine.objects.get(slug="builtin-turbo"),
        verify_ocr=False,
        max_latency_ms=600_000,
        **fields,
    )


def render_final(*, tier: Tier, editor, capture, engine: Engine | None = None, size=(1024, 1024)) -> RenderJob:  # type: ignore[no-untyped-def]
    """Submit a final-only job on `tier` and run its first attempt in this process."""
    with capture(execute=False):
        job = job_submit(
            submitted_by=editor,
            prompt="a quiet harbour at dawn",
            seed=5,
            width=size[0],
            height=size[1],
            tier=tier,
            engine=engine,
            with_preview=False,
        )
        assert job.status == JobStatus.RENDERING, job.admission_reason
        attempt_run(attempt_id=job.attempts.get().pk)
    job.refresh_from_db()
    return job


def openai_engine(fake: fakes.OpenAIFake, *, model: str, table: dict, **params) -> Engine:  # type: ignore[no-untyped-def]
    return engine_for(
        "openai",
        fake.url + "/v1",
        slug=f"fake-{model}",
        model_id=model,
        price_usd=Decimal("0.04"),
        price_table=table,
        params=params,
    )


# --- 1. Booked at what was sent and billed ---------------------------------------------------


def test_attempt_booked_at_the_quality_the_adapter_sent(openai_fake, demo, editor, django_capture_on_commit_callbacks):
    # The tier leaves quality blank: the adapter sends gpt-image-1's default, "medium" ($0.042),
    # not the table's first entry ("low", $0.011). No usable usage (a proxy's zeros): the table.
    openai_fake.usage = {"total_tokens": 0, "input_tokens": 0, "output_tokens": 0}
    engine = openai_engine(openai_fake, model="gpt-image-1", table=GPT1_TABLE)
    job = render_final(tier=vendor_tier(engine), editor=editor, capture=django_capture_on_commit_callbacks)

    attempt = job.attempts.get()
    assert openai_fake.generation_requests()[0].json()["quality"] == "medium"
    assert (attempt.cost_usd, attempt.price_source) == (Decimal("0.0420"), "table")
    assert (job.status, job.actual_cost_usd) == (JobStatus.DELIVERED, Decimal("0.0420"))


def test_attempt_booked_at_the_size_the_adapter_sent(openai_fake, demo, editor, django_capture_on_commit_callbacks):
    # A 1536×1024 canvas goes to dall-e-3 as 1792×1024, listed at $0.08 (not the base $0.04).
    engine = openai_engine(openai_fake, model="dall-e-3", table=DALLE_TABLE)
    job = render_final(
        tier=vendor_tier(engine), editor=editor, capture=django_capture_on_commit_callbacks, size=(1536, 1024)
    )

    attempt = job.attempts.get()
    assert attempt.sent["size"] == "1792x1024"
    assert (attempt.cost_usd, attempt.price_source) == (Decimal("0.0800"), "table")


def test_attempt_booked_from_the_vendors_usage(openai_fake, demo, editor, django_capture_on_commit_callbacks):
    # The fake answers usage 44 input + 1056 output tokens: 44 × $5/1M + 1056 × $40/1M = $0.04246.
    engine = openai_engine(
        openai_fake,
        model="gpt-image-1",
        table=GPT1_TABLE,
        usd_per_1m_image_output_tokens=40,
        usd_per_1m_text_input_tokens=5,
    )
    job = render_final(tier=vendor_tier(engine), editor=editor, capture=django_capture_on_commit_callbacks)

    attempt = job.attempts.get()
    assert (attempt.cost_usd, attempt.price_source) == (Decimal("0.0425"), "usage")
    assert BudgetLedger.objects.get(tier=job.tier, team="").spent_usd == Decimal("0.0425")


def test_all_zero_usage_is_booked_from_the_table_not_at_zero(
    openai_fake, demo, editor, django_capture_on_commit_callbacks
):
    openai_fake.usage = {"total_tokens": 0, "input_tokens": 0, "output_tokens": 0}
    engine = openai_engine(openai_fake, model="gpt-image-1", table=GPT1_TABLE, usd_per_1m_image_output_tokens=40)
    job = render_final(tier=vendor_tier(engine), editor=editor, capture=django_capture_on_commit_callbacks)

    attempt = job.attempts.get()
    assert (attempt.cost_usd, attempt.price_source) == (Decimal("0.0420"), "table")
    assert BudgetLedger.objects.get(tier=job.tier, team="").spent_usd == Decimal("0.0420")


def test_admission_refuses_an_unpriced_vendor_engine(demo, editor):
    engine = engine_for("openai", "https://api.openai.com/v1", model_id="gpt-image-1", price_usd=Decimal("0"))
    tier = vendor_tier(engine)

    job = job_submit(submitted_by=editor, prompt="a harbour", seed=1, tier=tier, with_preview=False)

    assert job.status == JobStatus.REFUSED
    assert "has no price" in job.admission_reason
    assert "does not allow unpriced engines" in job.admission_reason


def test_unpriced_engine_on_a_tier_that_allows_it_is_flagged_not_free(
    openai_fake, client, demo, editor, django_capture_on_commit_callbacks
):
    openai_fake.usage = {"total_tokens": 0, "input_tokens": 0, "output_tokens": 0}  # nothing to price by
    engine = openai_engine(openai_fake, model="gpt-image-1", table={})
    Engine.objects.filter(pk=engine.pk).update(price_usd=Decimal("0"))
    engine.refresh_from_db()
    tier = vendor_tier(engine, allow_unpriced=True)

    job = render_final(tier=tier, editor=editor, capture=django_capture_on_commit_callbacks)

    attempt = job.attempts.get()
    assert (attempt.price_source, job.status) == ("unknown", JobStatus.DELIVERED)
    client.force_login(editor)
    page = client.get(f"/renders/{job.public_id}/").content.decode()
    assert 'id="price-unknown"' in page
    token = api_token_create(user=editor)
    body = client.get(f"/api/v1/renders/{job.public_id}", HTTP_AUTHORIZATION=f"Bearer {token}").json()
    assert body["price_unknown"] is True
    assert body["attempts"][0]["price_source"] == "unknown"


def test_call_billed_but_failed_is_booked_and_the_fallback_holds_its_full_price(
    demo, editor, django_capture_on_commit_callbacks
):
    # Ideogram answers 200 with is_image_safe: false and bills the image (research/engines.md
    # §4.3). The attempt used to end at $0 while the vendor's invoice counted it.
    fake = fakes.IdeogramFake()
    fake.faults = ["unsafe"]
    try:
        engine = engine_for("ideogram", fake.url, slug="ideo-unsafe", model_id="V_2", price_usd=Decimal("0.08"))
        tier = vendor_tier(engine, max_attempts=1)
        job = render_final(tier=tier, editor=editor, capture=django_capture_on_commit_callbacks)
    finally:
        fake.close()

    attempt = job.attempts.get()
    assert attempt.status == AttemptStatus.ERROR
    assert (attempt.cost_usd, attempt.price_source) == (Decimal("0.0800"), "table")
    assert job.actual_cost_usd == Decimal("0.0800")
    assert BudgetLedger.objects.get(tier=tier, team="").spent_usd == Decimal("0.0800")


def test_image_bytes_that_do_not_decode_are_still_booked(openai_fake, demo, editor, django_capture_on_commit_callbacks):
    # A 200 whose b64_json is not an image: OpenAI billed the generation all the same.
    openai_fake.faults = ["not_image"]
    engine = openai_engine(openai_fake, model="dall-e-3", table=DALLE_TABLE)
    job = render_final(
        tier=vendor_tier(engine, max_attempts=1), editor=editor, capture=django_capture_on_commit_callbacks
    )

    attempt = job.attempts.get()
    assert (attempt.status, attempt.error_kind) == (AttemptStatus.ERROR, "bad_response")
    assert (attempt.cost_usd, attempt.price_source) == (Decimal("0.0400"), "table")
    assert job.actual_cost_usd == Decimal("0.0400")


def test_call_that_timed_out_after_reaching_the_vendor_is_flagged_possibly_billed_not_zero(
    openai_fake, client, demo, editor, django_capture_on_commit_callbacks
):
    # The vendor got the whole request and never answered within the read timeout: it may have
    # generated, and billed, the image. Not sent again (it could bill twice), not shown as $0.
    openai_fake.faults = ["slow_headers"] * 3
    engine = openai_engine(openai_fake, model="dall-e-3", table=DALLE_TABLE)
    Engine.objects.filter(pk=engine.pk).update(read_timeout_s=0.5)
    engine.refresh_from_db()
    job = render_final(tier=vendor_tier(engine), editor=editor, capture=django_capture_on_commit_callbacks)

    attempt = job.attempts.get()
    assert len(openai_fake.generation_requests()) == 1
    assert (attempt.status, attempt.error_kind) == (AttemptStatus.ERROR, "retryable")
    assert (attempt.cost_usd, attempt.price_source) == (Decimal("0"), "unknown")
    assert "may have billed it: its cost is unknown" in attempt.error
    token = api_token_create(user=editor)
    body = client.get(f"/api/v1/renders/{job.public_id}", HTTP_AUTHORIZATION=f"Bearer {token}").json()
    assert body["price_unknown"] is True
    client.force_login(editor)
    assert 'id="price-unknown"' in client.get(f"/renders/{job.public_id}/").content.decode()
    call_command("budget", "reconcile")  # nothing known was booked, nothing differs


# --- 2. One truth for spend ------------------------------------------------------------------


def test_job_actual_cost_counts_its_preview_while_it_rests_there(demo, editor, django_capture_on_commit_callbacks):
    preview = Tier.objects.get(slug="preview")
    Tier.objects.filter(pk=preview.pk).update(verify_ocr=False, hedge_previews=False)
    with django_capture_on_commit_callbacks(execute=False):
        job = job_submit(submitted_by=editor, prompt='a sign that reads "OPEN"', seed=3, tier=preview)
        attempt_run(attempt_id=job.attempts.get().pk)
    job.refresh_from_db()

    assert job.status == JobStatus.PREVIEW_READY
    assert job.actual_cost_usd == Decimal("0.0400")  # builtin-turbo's price
    call_command("budget", "reconcile")


def test_job_actual_cost_counts_its_attempts_while_it_waits_in_review(demo, editor, django_capture_on_commit_callbacks):
    production = Tier.objects.get(slug="production")
    with django_capture_on_commit_callbacks(execute=False):
        job = job_submit(
            submitted_by=editor, prompt='a sign that reads "OPEN"', seed=3, tier=production, with_preview=False
        )
        attempt = job.attempts.get()
        attempt_run(attempt_id=attempt.pk)  # now waiting for verification
    attempt.refresh_from_db()
    attempt_conclude(attempt, status=AttemptStatus.REVIEW)
    job.refresh_from_db()

    assert job.status == JobStatus.NEEDS_REVIEW
    assert job.actual_cost_usd == Decimal("0.0600")  # builtin-ultra's price
    call_command("budget", "reconcile")


def test_budget_reconcile_reports_a_ledger_that_differs_from_the_attempts(
    demo, editor, django_capture_on_commit_callbacks, capsys
):
    preview = Tier.objects.get(slug="preview")
    Tier.objects.filter(pk=preview.pk).update(verify_ocr=False, hedge_previews=False)
    with django_capture_on_commit_callbacks(execute=False):
        job = job_submit(submitted_by=editor, prompt="a harbour", seed=3, tier=preview)
        attempt_run(attempt_id=job.attempts.get().pk)
    call_command("budget", "reconcile")
    BudgetLedger.objects.filter(tier=preview, team="").update(spent_usd=Decimal("0"))  # an under-booking

    with pytest.raises(CommandError):
        call_command("budget", "reconcile")

    out = capsys.readouterr().out
    assert "preview" in out and "spent on the ledger $0.0000 ≠ $0.0400" in out


def test_forced_rerender_holds_its_price_first(demo, editor, moderator, django_capture_on_commit_callbacks):
    production = Tier.objects.get(slug="production")
    with django_capture_on_commit_callbacks(execute=False):
        job = job_submit(submitted_by=editor, prompt="a harbour", seed=3, tier=production, with_preview=False)
    RenderJob.objects.filter(pk=job.pk).update(status=JobStatus.RENDERING)
    job.refresh_from_db()
    job_finish(job, to=JobStatus.NEEDS_REVIEW, reason="look")
    ledger = BudgetLedger.objects.get(tier=production, team="")
    BudgetLedger.objects.filter(pk=ledger.pk).update(limit_usd=ledger.reserved_usd)  # nothing left to hold

    with pytest.raises(BudgetError, match="cannot hold the re-render"):
        job_force_rerender(job, by=moderator)

    job.refresh_from_db()
    assert job.status == JobStatus.NEEDS_REVIEW
    assert job.attempts.count() == 1


def test_dearer_fallback_holds_the_difference_first(demo, editor, django_capture_on_commit_callbacks):
    turbo, ultra = Engine.objects.get(slug="builtin-turbo"), Engine.objects.get(slug="builtin-ultra")
    tier = Tier.objects.create(
        slug="cheap", name="Cheap", preview_engine=turbo, final_engine=turbo, fallback_engine=ultra, verify_ocr=False
    )
    with django_capture_on_commit_callbacks(execute=False):
        job = job_submit(submitted_by=editor, prompt="a harbour", seed=3, tier=tier, with_preview=False)
    ledger = BudgetLedger.objects.get(tier=tier, team="")
    BudgetLedger.objects.filter(pk=ledger.pk).update(limit_usd=ledger.reserved_usd)  # exactly the estimate
    attempt = job.attempts.get()
    RenderAttempt.objects.filter(pk=attempt.pk).update(status=AttemptStatus.RUNNING)

    with django_capture_on_commit_callbacks(execute=False):
        attempt_fail(attempt, kind="retryable", message="HTTP 503", timings={})

    job.refresh_from_db()
    assert job.status == JobStatus.FAILED
    assert "costs $0.0200 more" in job.status_reason
    assert job.attempts.count() == 1


def test_tier_over_its_lowered_limit_refuses_new_work_and_says_so(demo, editor, django_capture_on_commit_callbacks):
    production = Tier.objects.get(slug="production")
    Tier.objects.filter(pk=production.pk).update(degrade_to=None, when_spent=WhenSpent.DEFER)
    ledger = policy.ledger_for(tier=production)
    BudgetLedger.objects.filter(pk=ledger.pk).update(spent_usd=Decimal("3"))
    production.refresh_from_db()
    production.daily_budget_usd = Decimal("2")  # the admin lowers the limit below what is spent
    production.save()
    policy.ledger_sync_limit(tier=production)

    with django_capture_on_commit_callbacks(execute=False):
        job = job_submit(submitted_by=editor, prompt="a harbour", seed=3, tier=production)

    assert job.status == JobStatus.REFUSED
    assert "over its limit: $3.00 spent and $0.00 held of $2.00" in job.admission_reason


# --- 3. Honest fallbacks ---------------------------------------------------------------------


def test_vendor_engine_never_falls_back_to_a_simulation_by_default(demo, editor, django_capture_on_commit_callbacks):
    engine = engine_for("openai", "https://api.openai.com/v1", model_id="gpt-image-1")
    tier = vendor_tier(engine)
    with django_capture_on_commit_callbacks(execute=False):
        job = job_submit(submitted_by=editor, prompt="a harbour", seed=3, tier=tier, with_preview=False)
    attempt = job.attempts.get()
    RenderAttempt.objects.filter(pk=attempt.pk).update(status=AttemptStatus.RUNNING)

    with django_capture_on_commit_callbacks(execute=False):
        attempt_fail(attempt, kind="retryable", message="HTTP 503 after 3 tries", timings={})

    job.refresh_from_db()
    assert job.status == JobStatus.FAILED
    assert "does not fall back from the vendor engine" in job.status_reason
    assert job.attempts.count() == 1


def test_misconfigured_engine_fails_visibly_and_is_marked_unhealthy(
    openai_fake, demo, editor, django_capture_on_commit_callbacks
):
    openai_fake.faults = ["retired"]
    engine = openai_engine(openai_fake, model="dall-e-3", table=DALLE_TABLE)
    tier = vendor_tier(engine, allow_simulation_fallback=True)  # even so: misconfiguration is not a fallback case

    job = render_final(tier=tier, editor=editor, capture=django_capture_on_commit_callbacks)

    assert job.status == JobStatus.FAILED
    assert "is misconfigured" in job.status_reason and "deprecated" in job.status_reason
    assert job.attempts.count() == 1
    assert "deprecated" in engine_health(engine=engine).unhealthy


def test_pinned_vendor_engine_job_never_gets_a_simulated_picture(demo, editor, django_capture_on_commit_callbacks):
    # /api/models/<vendor-engine> pins the job to the engine; production falls back to a simulation.
    engine = engine_for("openai", "https://api.openai.com/v1", model_id="gpt-image-1")
    production = Tier.objects.get(slug="production")
    Tier.objects.filter(pk=production.pk).update(allow_simulation_fallback=True)
    production.refresh_from_db()
    with django_capture_on_commit_callbacks(execute=False):
        job = job_submit(
            submitted_by=editor, prompt="a harbour", seed=3, tier=production, engine=engine, with_preview=False
        )
    attempt = job.attempts.get()
    RenderAttempt.objects.filter(pk=attempt.pk).update(status=AttemptStatus.RUNNING)

    with django_capture_on_commit_callbacks(execute=False):
        attempt_fail(attempt, kind="retryable", message="HTTP 503 after 3 tries", timings={})

    job.refresh_from_db()
    assert job.status == JobStatus.FAILED
    assert "asked for" in job.status_reason
    assert [a.engine_id for a in job.attempts.all()] == [engine.pk]


def test_delivered_fallback_is_reported_on_the_page_and_the_api(
    openai_fake, client, demo, editor, django_capture_on_commit_callbacks
):
    openai_fake.faults = ["503", "503", "503"]
    engine = openai_engine(openai_fake, model="dall-e-3", table=DALLE_TABLE)
    tier = vendor_tier(engine, allow_simulation_fallback=True)
    job = render_final(tier=tier, editor=editor, capture=django_capture_on_commit_callbacks)
    fallback = job.attempts.get(step="fallback")
    with django_capture_on_commit_callbacks(execute=False):
        attempt_run(attempt_id=fallback.pk)
    job.refresh_from_db()
    assert job.status == JobStatus.DELIVERED

    token = api_token_create(user=editor)
    body = client.get(f"/api/v1/renders/{job.public_id}", HTTP_AUTHORIZATION=f"Bearer {token}").json()
    assert body["fallbacks"] == [
        {
            "stage": "final",
            "failed_engine": engine.slug,
            "error_kind": "retryable",
            "error": job.attempts.get(number=1).error,
            "fallback_engine": "builtin-turbo",
            "delivered_by": "builtin-turbo",
        }
    ]
    client.force_login(editor)
    page = client.get(f"/renders/{job.public_id}/").content.decode()
    assert "openai fake failed (retryable" in page and "delivered the final" in page
