"""The template page's export panel and its endpoints: admins only, with and without htmx."""

import io
import zipfile
from datetime import timedelta

import pytest
from django.core.files.base import ContentFile
from django.template import Context
from django.template import Template as DjangoTemplate
from django.test import RequestFactory
from django.utils import timezone

from apps.catalog.models import Template
from apps.training.models import STALE_AFTER, ExportStatus, TrainingExport

PAGE = "/templates/editorial-cover/"


@pytest.fixture
def template(demo):  # type: ignore[no-untyped-def]
    return Template.objects.get(slug="editorial-cover")


@pytest.fixture
def done_export(template, admin_user):  # type: ignore[no-untyped-def]
    export = TrainingExport.objects.create(
        template=template,
        requested_by=admin_user,
        status=ExportStatus.DONE,
        report={
            "included": {"total": 1, "real": 1, "synthetic": 0},
            "split": {"train": {"total": 1}, "validation": {"total": 0}},
            "left_out": {"rejected": 2},
            "left_out_total": 2,
        },
    )
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("report.json", "{}")
    export.archive.save("set.zip", ContentFile(buffer.getvalue()))
    return export


def _login(client, user):  # type: ignore[no-untyped-def]
    client.force_login(user)


def test_template_page_shows_the_export_button_to_an_admin(client, template, admin_user, done_export):
    _login(client, admin_user)

    page = client.get(PAGE).content.decode()

    assert 'id="export-button"' in page
    assert f"/training/exports/{done_export.public_id}/download/" in page
    assert "rejected: 2" in page


def test_export_panel_renders_nothing_for_a_non_admin(template, editor, moderator):
    tag = DjangoTemplate("{% load training %}{% training_export_panel template %}")
    for user in (editor, moderator):
        request = RequestFactory().get(PAGE)
        request.user = user

        assert tag.render(Context({"request": request, "template": template})).strip() == ""


def test_export_endpoints_refuse_a_non_admin(client, template, moderator, done_export):
    _login(client, moderator)

    responses = [
        client.get(PAGE),
        client.post("/training/templates/editorial-cover/export/", {"split": "0.9", "min_real": "30"}),
        client.get(f"/training/exports/{done_export.public_id}/download/"),
    ]

    assert [r.status_code for r in responses] == [403, 403, 403]
    assert TrainingExport.objects.count() == 1


def test_export_create_without_javascript_queues_and_redirects_to_the_page(
    client, template, admin_user, django_capture_on_commit_callbacks
):
    _login(client, admin_user)

    with django_capture_on_commit_callbacks() as callbacks:
        response = client.post(
            "/training/templates/editorial-cover/export/", {"split": "0.8", "min_real": "5", "since": "2026-01-02"}
        )

    assert (response.status_code, response["Location"]) == (302, PAGE + "#training-export")
    export = TrainingExport.objects.get()
    assert (export.status, export.requested_by, export.options) == (
        ExportStatus.QUEUED,
        admin_user,
        {"since": "2026-01-02", "split": 0.8, "seed": 0, "min_real": 5},
    )
    assert len(callbacks) == 1


def test_export_create_with_htmx_answers_the_polling_panel(client, template, admin_user, monkeypatch):
    _login(client, admin_user)
    monkeypatch.setattr("apps.training.services.transaction.on_commit", lambda *a, **k: None)

    response = client.post(
        "/training/templates/editorial-cover/export/", {"split": "0.9", "min_real": "30"}, HTTP_HX_REQUEST="true"
    )

    body = response.content.decode()
    assert response.status_code == 200
    assert 'id="training-export"' in body and 'hx-trigger="every 1s"' in body and "Building…" in body


def test_export_create_with_htmx_shows_the_form_errors(client, template, admin_user):
    _login(client, admin_user)

    response = client.post(
        "/training/templates/editorial-cover/export/", {"split": "1.5", "min_real": "30"}, HTTP_HX_REQUEST="true"
    )

    assert "Ensure this value is less than or equal to 1.0." in response.content.decode()
    assert TrainingExport.objects.count() == 0


def test_export_panel_stops_polling_once_nothing_builds(client, template, admin_user, done_export):
    _login(client, admin_user)

    response = client.get("/training/templates/editorial-cover/exports/", HTTP_HX_REQUEST="true")

    assert response.status_code == 286
    assert "hx-trigger" not in response.content.decode()


def test_export_panel_stops_waiting_for_a_stalled_export(client, template, admin_user):
    _login(client, admin_user)
    export = TrainingExport.objects.create(template=template, requested_by=admin_user, status=ExportStatus.RUNNING)
    TrainingExport.objects.filter(pk=export.pk).update(created_at=timezone.now() - STALE_AFTER - timedelta(seconds=1))

    response = client.get("/training/templates/editorial-cover/exports/", HTTP_HX_REQUEST="true")

    assert response.status_code == 286
    assert "Stalled: no worker finished it" in response.content.decode()


def test_export_download_gives_the_zip_to_an_admin(client, template, admin_user, done_export):
    _login(client, admin_user)

    response = client.get(f"/training/exports/{done_export.public_id}/download/")

    assert response.status_code == 200
    assert response["Content-Type"] == "application/zip"
    assert response["Content-Disposition"].startswith('attachment; filename="editorial-cover-training-set-')
    assert zipfile.ZipFile(io.BytesIO(b"".join(response.streaming_content))).namelist() == ["report.json"]


def test_export_download_of_an_unfinished_export_is_not_found(client, template, admin_user):
    _login(client, admin_user)
    export = TrainingExport.objects.create(template=template, requested_by=admin_user)

    assert client.get(f"/training/exports/{export.public_id}/download/").status_code == 404
