"""End to end: one render through a real Celery worker process against each fake vendor.

The worker process gets the fake key (tests/engines/conftest.py) and the loopback
allowlist (Makefile `test`) from its environment, exactly as a deployed worker would.
"""

import io

import pytest
from PIL import Image

from apps.policy.models import Tier
from apps.renders.models import AttemptStatus, JobStatus, RenderJob
from apps.renders.pipeline.submit import job_submit
from tests.conftest import wait_for
from tests.engines import fakes
from tests.engines.conftest import engine_for

# (adapter, fake class, engine fields, URL suffix, seed honoured, what `sent` must record)
CASES = {
    "http": ("http", fakes.GenericFake, {"api_key_env": ""}, "/generate", True, ("size", "768x512")),
    "openai": ("openai", fakes.OpenAIFake, {"model_id": "dall-e-3"}, "/v1", False, ("size", "1792x1024")),
    "imagen": (
        "imagen",
        fakes.ImagenFake,
        {"model_id": "imagen-4.0-fast-generate-001"},
        "",
        False,
        ("aspect_ratio", "4:3"),
    ),
    "stability": (
        "stability",
        fakes.StabilityFake,
        {"model_id": "sd3.5-large-turbo"},
        "",
        True,
        ("aspect_ratio", "3:2"),
    ),
    "ideogram": ("ideogram", fakes.IdeogramFake, {"model_id": "V_2"}, "", True, ("aspect_ratio", "ASPECT_3_2")),
    "comfyui": (
        "comfyui",
        fakes.ComfyUIFake,
        {"model_id": "sd15.safetensors", "api_key_env": ""},
        "",
        True,
        ("size", "768x512"),
    ),
}


@pytest.mark.e2e
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("case", list(CASES))
def test_pipeline_renders_through_a_worker_against_each_fake(case, celery_workers, demo, editor):
    adapter, fake_cls, fields, suffix, honoured, (sent_key, sent_value) = CASES[case]
    fake = fake_cls()
    try:
        engine = engine_for(adapter, fake.url + suffix, slug=f"{case}-e2e", **fields)
        job = job_submit(
            submitted_by=editor,
            prompt="a quiet harbour at dawn, wide shot",
            seed=4242,
            width=768,
            height=512,
            engine=engine,
            tier=Tier.objects.get(slug="production"),
            with_preview=False,
        )

        job = wait_for(
            lambda: RenderJob.objects.filter(
                pk=job.pk, status__in=[JobStatus.DELIVERED, JobStatus.FAILED, JobStatus.NEEDS_REVIEW]
            ).first(),
            timeout=60,
        )
    finally:
        fake.close()

    attempt = job.attempts.get()
    assert (job.status, attempt.status) == (JobStatus.DELIVERED, AttemptStatus.PASSED), attempt.error
    assert fake.generation_requests(), "the worker never reached the fake"
    with attempt.image.open("rb") as fh:
        assert Image.open(io.BytesIO(fh.read())).size == (768, 512)
    assert attempt.sent["asked"] == "768x512"
    assert attempt.sent[sent_key] == sent_value
    assert attempt.seed_honoured is honoured
    assert engine.calls.filter(ok=True).count() == 1


@pytest.mark.e2e
@pytest.mark.django_db(transaction=True)
def test_pipeline_new_render_page_runs_preview_and_final_on_vendor_engines(celery_workers, demo, client, editor):
    """An admin points the production tier at vendor engines; an editor uses the New render page."""
    from django.urls import reverse

    from apps.catalog.models import Template

    stability, ideogram = fakes.StabilityFake(), fakes.IdeogramFake()
    try:
        preview = engine_for("stability", stability.url, slug="sd-page", model_id="sd3.5-large-turbo")
        final = engine_for("ideogram", ideogram.url, slug="ideo-page", model_id="V_2")
        Tier.objects.filter(slug="production").update(preview_engine=preview, final_engine=final)
        client.force_login(editor)
        template = Template.objects.get(slug="editorial-cover")

        response = client.post(
            reverse("renders:job-new"),
            {"template": template.pk, "text_title": "Harbour Lights", "seed": "777", "size": "768x512", "tier": ""},
        )

        assert response.status_code == 302
        job = RenderJob.objects.get()
        resting = [JobStatus.DELIVERED, JobStatus.NEEDS_REVIEW, JobStatus.FAILED]
        job = wait_for(lambda: RenderJob.objects.filter(pk=job.pk, status__in=resting).first(), timeout=90)
    finally:
        stability.close()
        ideogram.close()

    attempts = list(job.attempts.order_by("number"))
    assert job.status != JobStatus.FAILED, [a.error for a in attempts]
    assert attempts[0].engine == preview and attempts[0].seed_honoured is True
    assert attempts[0].sent["aspect_ratio"] == "3:2"
    finals = [a for a in attempts if a.stage == "final"]
    # The first final runs on the tier's final engine; later ones may be escalation steps.
    assert finals and finals[0].engine == final and finals[0].image
    assert finals[0].sent["aspect_ratio"] == "ASPECT_3_2"
    assert stability.generation_requests() and ideogram.generation_requests()
