"""What a job must show: refused at submission when it cannot be drawn or verified, and never
"Verification passed" when nothing was checked."""

import pytest
from django.urls import reverse

from apps.accounts.services import api_token_create
from apps.catalog.models import Template
from apps.engines.models import Engine
from apps.renders.models import JobStatus, RenderJob
from apps.renders.pipeline.submit import job_submit
from tests.moderation.helpers import run_pending

pytestmark = pytest.mark.django_db


@pytest.fixture
def token(demo, editor):  # type: ignore[no-untyped-def]
    return api_token_create(user=editor)


@pytest.fixture
def cover(demo):  # type: ignore[no-untyped-def]
    return Template.objects.get(slug="editorial-cover")


@pytest.fixture
def no_typos(demo):  # type: ignore[no-untyped-def]
    """The simulation draws exactly what was asked (its injected typos are tested elsewhere)."""
    for engine in Engine.objects.filter(adapter="builtin"):
        engine.params = {**engine.params, "typo_rate": 0}
        engine.save(update_fields=["params"])


def _post(client, path, body, token):  # type: ignore[no-untyped-def]
    return client.post(path, body, content_type="application/json", HTTP_AUTHORIZATION=f"Bearer {token}")


# --- no expected text ----------------------------------------------------------------------


def test_free_prompt_without_quotes_on_a_verifying_tier_says_not_verified(
    client, token, editor, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=False):
        created = _post(client, "/api/v1/renders", {"prompt": "a quiet harbour at dusk", "seed": 3}, token).json()
    job = RenderJob.objects.get(public_id=created["id"])
    assert job.tier.verify_ocr and job.texts == {}

    job = run_pending(job, django_capture_on_commit_callbacks)

    assert job.status == JobStatus.DELIVERED
    assert job.status_reason == "Delivered; not verified: no expected text."
    detail = client.get(created["url"], HTTP_AUTHORIZATION=f"Bearer {token}").json()
    assert detail["verification_note"] == "not verified: no expected text"
    assert [a["verification"] for a in detail["attempts"]] == [
        {"verdict": "not_verified", "reasons": ["not verified: no expected text"]}
    ] * 2
    assert "passed" not in str(detail).lower()
    client.force_login(editor)
    page = client.get(reverse("renders:job-detail", args=[job.public_id])).content.decode()
    assert "not verified: no expected text" in page
    assert "Verification passed" not in page
    assert ">Passed<" not in page


def test_free_prompt_with_german_quotes_is_verified(client, token, no_typos, django_capture_on_commit_callbacks):
    prompt = "Plakat für das Dorffest in Kleinwalde mit dem Schriftzug „SOMMERFEST 2026“"
    with django_capture_on_commit_callbacks(execute=False):
        created = _post(client, "/api/v1/renders", {"prompt": prompt, "seed": 5}, token).json()
    job = RenderJob.objects.get(public_id=created["id"])
    assert job.texts == {"text1": "SOMMERFEST 2026"}

    job = run_pending(job, django_capture_on_commit_callbacks)

    preview = job.attempts.get(number=1)
    assert preview.verification is not None
    assert preview.verification.verdict == "pass", preview.verification.reasons
    assert job.status == JobStatus.DELIVERED
    assert job.status_reason == "Verification passed; delivered."


# --- text the gate cannot check, glyphs the fonts lack ---------------------------------------


def test_api_emoji_only_text_is_refused_naming_the_character(client, token):
    response = _post(client, "/api/v1/renders", {"prompt": "a party poster saying „🎉🎉“"}, token)

    assert response.status_code == 400
    assert response.json()["field"] == "prompt"
    assert "🎉" in response.json()["error"]
    assert "U+1F389" in response.json()["error"]
    assert RenderJob.objects.count() == 0


def test_api_symbols_only_text_is_refused_as_uncheckable(client, token):
    response = _post(client, "/api/v1/renders", {"prompt": 'a rating card "★★★"'}, token)

    assert response.status_code == 400
    assert response.json()["field"] == "prompt"
    assert "no letters or digits" in response.json()["error"]
    assert RenderJob.objects.count() == 0


def test_api_missing_glyph_in_a_slot_is_refused_naming_it(client, token):
    body = {"template": "editorial-cover", "texts": {"title": "SALE 🎉"}}

    response = _post(client, "/api/v1/renders", body, token)

    assert response.status_code == 400
    assert response.json()["field"] == "title"
    assert "“🎉” (U+1F389 PARTY POPPER) cannot be drawn" in response.json()["error"]
    assert RenderJob.objects.count() == 0


def test_form_missing_glyph_shows_the_error_on_the_field(client, cover, editor):
    client.force_login(editor)

    response = client.post(reverse("renders:job-new"), {"template": cover.pk, "text_title": "SALE 🎉"})

    assert response.status_code == 200
    assert "PARTY POPPER" in response.content.decode()
    assert RenderJob.objects.count() == 0


@pytest.mark.parametrize("control", [chr(c) for c in [*range(0x202A, 0x202F), *range(0x2066, 0x206A)]])
def test_text_problem_refuses_a_direction_control_on_every_tier(control):
    from apps.renders.text_checks import text_problem

    for verify in (True, False):
        problem = text_problem(f"{control}Summer Sale", verify=verify)

        assert f"U+{ord(control):04X}" in problem
        assert control not in problem  # the message itself is not reordered


def test_form_right_to_left_override_in_a_title_is_refused_and_nothing_starts(client, cover, editor):
    client.force_login(editor)

    response = client.post(reverse("renders:job-new"), {"template": cover.pk, "text_title": "\u202eevil override"})

    assert response.status_code == 200
    assert "U+202E RIGHT-TO-LEFT OVERRIDE" in response.content.decode()
    assert RenderJob.objects.count() == 0


def test_api_right_to_left_override_in_a_title_is_refused_with_the_field(client, token):
    body = {"template": "editorial-cover", "texts": {"title": "Summer \u202eSale"}}

    response = _post(client, "/api/v1/renders", body, token)

    assert response.status_code == 400
    assert response.json()["field"] == "title"
    assert "U+202E RIGHT-TO-LEFT OVERRIDE" in response.json()["error"]
    assert RenderJob.objects.count() == 0


def test_text_problem_allows_marks_and_joiners():
    from apps.renders.text_checks import text_problem

    assert text_problem("Summer\u200e Sale\u200f", verify=True) == ""


# --- scripts ---------------------------------------------------------------------------------


def test_cjk_title_renders_and_verifies_without_climbing_the_ladder(
    cover, editor, no_typos, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=False):
        job = job_submit(submitted_by=editor, template=cover, texts={"title": "東京 夏祭り"}, seed=9)

    job = run_pending(job, django_capture_on_commit_callbacks)

    assert [(a.stage, a.verification.verdict) for a in job.attempts.all()] == [("preview", "pass"), ("final", "pass")]
    assert job.status == JobStatus.DELIVERED


def test_form_title_in_a_script_the_gate_cannot_read_is_refused_naming_it(client, cover, editor):
    client.force_login(editor)

    response = client.post(reverse("renders:job-new"), {"template": cover.pk, "text_title": "ЛЕТНЯЯ РАСПРОДАЖА"})

    assert response.status_code == 200
    assert "Text in Cyrillic cannot be verified" in response.content.decode()
    assert RenderJob.objects.count() == 0


def test_api_titles_in_scripts_the_gate_cannot_read_are_refused_with_the_field(client, token):
    for title, script in [("Καλημέρα", "Greek"), ("서울", "Korean (Hangul)"), ("مرحبا", "Arabic"), ("שלום", "Hebrew")]:
        body = {"template": "editorial-cover", "texts": {"title": title}}

        response = _post(client, "/api/v1/renders", body, token)

        assert response.status_code == 400, title
        assert response.json()["field"] == "title"
        assert f"Text in {script} cannot be verified" in response.json()["error"]
    assert RenderJob.objects.count() == 0


def test_compositor_sets_a_cjk_title_the_gate_reads():
    from apps.renders.compositor import composite_text
    from apps.verification.gate import verify_image
    from tests.verification.images import TITLE_REGION, title_card

    image = composite_text(
        image=title_card("Tokio"), texts={"title": "東京 夏祭り"}, regions={"title": TITLE_REGION}, palette=[]
    )

    report = verify_image(image=image, expected={"title": "東京 夏祭り"}, regions={"title": TITLE_REGION})
    assert report.verdict == "pass", report.reasons


@pytest.mark.parametrize("text", ["ЛЕТНЯЯ РАСПРОДАЖА", "Καλημέρα", "서울", "مرحبا", "שלום", "東京"])
def test_text_problem_every_script_can_be_drawn_without_verification(text):
    from apps.renders.text_checks import text_problem

    assert text_problem(text, verify=False) == ""
