"""Hedged previews with real worker processes (PostgreSQL + Redis through `make test`)."""

from decimal import Decimal

import pytest

from apps.engines.models import AdapterKind, Engine
from apps.policy.models import Reservation
from apps.renders.models import AttemptStatus, JobStatus, RenderJob
from apps.renders.pipeline.submit import job_submit
from tests.conftest import wait_for


@pytest.mark.django_db(transaction=True)
def test_slow_preview_is_hedged_on_the_fallback_and_first_answer_wins(celery_workers, preview_tier, cover, editor):
    # Workers run the simulation at TEST_LATENCY_SCALE (0.2): this engine takes ~4 s, the
    # fallback (Built-in Turbo) ~60 ms, the tier's budget is 300 ms.
    slow = Engine.objects.create(
        slug="builtin-sluggish",
        name="Built-in Sluggish",
        adapter=AdapterKind.BUILTIN,
        is_simulation=True,
        price_usd=Decimal("0.03"),
        params={"latency_p50_ms": 20000, "latency_sigma": 0.01, "typo_rate": 0},
    )
    preview_tier.preview_engine = slow
    preview_tier.max_latency_ms = 300
    preview_tier.hedge_previews = True
    preview_tier.verify_ocr = False
    preview_tier.save()

    job = job_submit(submitted_by=editor, template=cover, texts={"title": "Tail"}, asset_class="preview")

    wait_for(lambda: RenderJob.objects.get(pk=job.pk).status == JobStatus.PREVIEW_READY, timeout=30)
    attempts = {a.step: a for a in job.attempts.select_related("engine")}
    assert set(attempts) == {"initial", "hedge"}
    assert attempts["hedge"].engine.slug == "builtin-turbo"
    assert attempts["hedge"].status == AttemptStatus.PASSED
    # The slow call finishes later, is marked cancelled and its cost still counts.
    wait_for(lambda: job.attempts.get(step="initial").status == AttemptStatus.CANCELLED, timeout=30)
    initial = job.attempts.get(step="initial")
    assert initial.cost_usd == Decimal("0.0300")
    assert "hedging the preview" in attempts["hedge"].reason
    # Resting at its preview, the job holds nothing more and both previews are booked as spent
    # (0.04 for the hedge that won, 0.03 for the slow one that lost).
    reservation = Reservation.objects.get(ref=str(job.public_id))
    assert (reservation.amount_usd, reservation.actual_usd) == (Decimal("0"), Decimal("0.0700"))
    assert reservation.ledger.spent_usd == Decimal("0.0700")
    assert reservation.ledger.reserved_usd == Decimal("0")
