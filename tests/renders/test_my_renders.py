"""My renders: search over the typed text and id, thumbnails, zip download with a manifest."""

import io
import json
import os
import zipfile

import pytest
from django.core.files.base import ContentFile
from django.urls import reverse
from PIL import Image
from playwright.sync_api import sync_playwright

from apps.policy.models import Tier
from apps.renders.models import AttemptStatus, JobStatus, RenderAttempt, RenderJob, job_typed_text
from tests.conftest import PASSWORD
from tests.e2e.test_editor_browser import CHROMIUM, CHROMIUM_ARGS
from tests.verification.images import title_card

os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")


def _job(user, title: str, *, image: bool = True) -> RenderJob:  # type: ignore[no-untyped-def]
    tier = Tier.objects.get(slug="production")
    texts = {"title": title}
    job = RenderJob.objects.create(
        prompt=f'Editorial cover, the title "{title}", the theme of the day',
        texts=texts,
        typed_text=job_typed_text(texts),
        seed=3,
        width=768,
        height=512,
        tier=tier,
        status=JobStatus.DELIVERED,
        submitted_by=user,
    )
    if image:
        attempt = RenderAttempt.objects.create(
            job=job,
            number=1,
            stage="final",
            engine=tier.final_engine,
            prompt="p",
            seed=3,
            requested_size="768x512",
            status=AttemptStatus.PASSED,
            image_mime="image/png",
        )
        attempt.image.save(f"{job.public_id}.png", ContentFile(title_card(title)), save=True)
    return job


@pytest.mark.django_db
def test_search_matches_typed_text_not_the_hidden_prompt(client, demo, editor):
    _job(editor, "Spring Sale")
    _job(editor, "Night Market")
    client.force_login(editor)

    body = client.get(reverse("renders:job-list"), {"q": "the"}).content.decode()
    market = client.get(reverse("renders:job-list"), {"q": "market"}).content.decode()

    assert "Spring Sale" not in body and "Night Market" not in body  # "the" is only in the prompt
    assert "Night Market" in market and "Spring Sale" not in market


@pytest.mark.django_db
def test_search_finds_a_job_by_its_id_or_id_prefix(client, demo, editor):
    job = _job(editor, "Spring Sale")
    _job(editor, "Night Market")
    client.force_login(editor)

    full = client.get(reverse("renders:job-list"), {"q": str(job.public_id)}).content.decode()
    prefix = client.get(reverse("renders:job-list"), {"q": str(job.public_id)[:8]}).content.decode()

    assert "Spring Sale" in full and "Night Market" not in full
    assert "Spring Sale" in prefix


@pytest.mark.django_db
def test_thumbnail_is_small_webp_and_private(client, demo, editor, moderator):
    from tests.factories import UserFactory

    job = _job(editor, "Spring Sale")
    url = reverse("renders:attempt-thumb", args=[job.public_id, 1])
    client.force_login(editor)

    response = client.get(url)
    client.force_login(UserFactory(role="editor"))

    assert response.status_code == 200 and response["Content-Type"] == "image/webp"
    assert Image.open(io.BytesIO(response.content)).size == (160, 107)
    assert client.get(url).status_code == 404  # another editor's job


@pytest.mark.django_db
def test_download_selected_gives_a_zip_with_images_and_manifest(client, demo, editor):
    first, second = _job(editor, "Spring Sale"), _job(editor, "Night Market", image=False)
    client.force_login(editor)

    ids = [str(first.public_id), str(second.public_id), "junk"]
    response = client.post(reverse("renders:jobs-download"), {"job": ids})

    archive = zipfile.ZipFile(io.BytesIO(response.content))
    manifest = [json.loads(line) for line in archive.read("manifest.jsonl").decode().splitlines()]
    assert response["Content-Type"] == "application/zip"
    assert sorted(archive.namelist()) == sorted(["manifest.jsonl", f"{first.public_id}-final.png"])
    by_id = {m["id"]: m for m in manifest}
    assert by_id[str(first.public_id)]["texts"] == {"title": "Spring Sale"}
    assert by_id[str(first.public_id)]["image"] == f"{first.public_id}-final.png"
    assert by_id[str(second.public_id)]["image"] is None


@pytest.mark.django_db
def test_download_manifest_gives_the_seed_the_delivered_image_was_rendered_at(client, demo, editor):
    job = _job(editor, "Harvest Guide")  # job seed 3
    attempt = job.attempts.get()
    attempt.seed = 4  # an escalation re-rendered the final at a new seed
    attempt.save(update_fields=["seed"])
    client.force_login(editor)

    response = client.post(reverse("renders:jobs-download"), {"job": [str(job.public_id)]})

    line = json.loads(zipfile.ZipFile(io.BytesIO(response.content)).read("manifest.jsonl"))
    assert line["seed"] == 4


@pytest.mark.django_db
def test_my_renders_says_when_a_resting_preview_failed_verification(client, demo, editor):
    """A preview-tier job rests at "Preview ready" whatever its verdict: the list must not make a
    failed preview look like a good one."""
    from apps.verification.models import VerificationResult

    failed, passed = _job(editor, "Harvest Guide"), _job(editor, "Night Trains")
    RenderJob.objects.filter(pk__in=[failed.pk, passed.pk]).update(status=JobStatus.PREVIEW_READY)
    for job, verdict in ((failed, "fail"), (passed, "pass")):
        result = VerificationResult.objects.create(verdict=verdict, reasons=["text:title: misspelled"])
        job.attempts.update(stage="preview", verification=result)
    client.force_login(editor)

    body = client.get(reverse("renders:job-list")).content.decode()

    rows = {title: row for row in body.split("<tr>") for title in ("Harvest Guide", "Night Trains") if title in row}
    assert "verification: fail" in rows["Harvest Guide"]
    assert "verification:" not in rows["Night Trains"]


@pytest.mark.django_db
def test_download_leaves_out_jobs_the_user_may_not_see(client, demo, editor):
    from tests.factories import UserFactory

    theirs = _job(UserFactory(role="editor"), "Secret")
    client.force_login(editor)

    response = client.post(reverse("renders:jobs-download"), {"job": [str(theirs.public_id)]})

    assert zipfile.ZipFile(io.BytesIO(response.content)).read("manifest.jsonl") == b""


@pytest.mark.e2e
@pytest.mark.django_db(transaction=True)
def test_my_renders_thumbnails_search_and_zip_in_a_browser(live_server, demo, editor, tmp_path):
    _job(editor, "Spring Sale")
    _job(editor, "Night Market")
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        page = browser.new_page(accept_downloads=True)
        page.goto(f"{live_server.url}/accounts/login/?next=/renders/")
        page.fill("#id_username", editor.username)
        page.fill("#id_password", PASSWORD)
        page.click("main button[type=submit]")
        page.wait_for_url("**/renders/")
        widths: list[int] = []
        for _ in range(100):  # lazy images load after the page (no string eval under the page's CSP)
            widths = page.eval_on_selector_all("img.thumb", "imgs => imgs.map(i => i.complete ? i.naturalWidth : 0)")
            if widths and all(widths):
                break
            page.wait_for_timeout(100)
        page.fill("input[name=q]", "spring")
        page.click("form.filters button[type=submit]")
        page.wait_for_url("**/renders/?*q=spring*")
        rows = page.locator("table.jobs tbody tr").count()
        kept = page.input_value("input[name=q]")
        page.check("table.jobs tbody input[type=checkbox]")
        with page.expect_download() as info:
            page.click("#download-selected")
        path = tmp_path / "renders.zip"
        info.value.save_as(path)
        page.screenshot(path=str(os.environ.get("MY_RENDERS_SCREENSHOT", tmp_path / "list.png")), full_page=True)
        browser.close()

    assert widths == [160, 160]
    assert (rows, kept) == (1, "spring")
    assert len(zipfile.ZipFile(path).namelist()) == 2
