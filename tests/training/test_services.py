"""Exports asked for on the template page: the request, the task's one service call, the command."""

import io
import json
import zipfile
from datetime import timedelta

import pytest
from celery import current_app
from django.core.management import CommandError, call_command
from django.utils import timezone

from apps.catalog.models import Template
from apps.training import services
from apps.training.models import STALE_AFTER, ExportStatus, TrainingExport
from apps.training.tasks import export as export_task


@pytest.fixture
def template(demo):  # type: ignore[no-untyped-def]
    return Template.objects.get(slug="editorial-cover")


def test_training_export_request_sends_the_task_only_after_the_commit(
    template, admin_user, monkeypatch, django_capture_on_commit_callbacks
):
    sent: list[dict] = []
    monkeypatch.setattr(current_app.tasks["training.export"], "apply_async", lambda kwargs: sent.append(kwargs))

    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        export = services.training_export_request(template=template, by=admin_user, split=0.8, min_real=3)
        assert sent == []  # nothing leaves before the commit

    assert len(callbacks) == 1
    assert sent == [{"export_id": export.pk}]
    assert (export.status, export.options["split"], export.options["min_real"]) == (ExportStatus.QUEUED, 0.8, 3)


def test_export_task_builds_the_zip_and_keeps_the_report(template, admin_user):
    export = TrainingExport.objects.create(template=template, requested_by=admin_user, options={"min_real": 3})

    export_task(export_id=export.pk)

    export.refresh_from_db()
    assert export.status == ExportStatus.DONE
    assert export.finished_at is not None
    with export.archive.open("rb") as fh, zipfile.ZipFile(io.BytesIO(fh.read())) as archive:
        names = set(archive.namelist())
        report = json.loads(archive.read("report.json"))
    assert {
        "manifest.jsonl",
        "report.json",
        "dataset.toml",
        "train/metadata.jsonl",
        "validation/metadata.jsonl",
    } <= names
    assert report == export.report
    assert (report["included"]["real"], report["included"]["synthetic"]) == (0, 3)
    assert sum(1 for n in names if n.endswith(".png")) == 3


def test_export_task_does_nothing_unless_the_export_is_queued(template, admin_user):
    export = TrainingExport.objects.create(template=template, requested_by=admin_user, status=ExportStatus.RUNNING)

    export_task(export_id=export.pk)
    export_task(export_id=export.pk + 1000)  # a row that vanished

    export.refresh_from_db()
    assert (export.status, bool(export.archive)) == (ExportStatus.RUNNING, False)


def test_export_task_rebuilds_an_export_whose_worker_was_lost(template, admin_user):
    export = TrainingExport.objects.create(
        template=template, requested_by=admin_user, status=ExportStatus.RUNNING, options={"min_real": 1}
    )
    TrainingExport.objects.filter(pk=export.pk).update(created_at=timezone.now() - STALE_AFTER - timedelta(seconds=1))

    export_task(export_id=export.pk)  # the message redelivered after the worker died

    export.refresh_from_db()
    assert (export.status, export.report["included"]["total"]) == (ExportStatus.DONE, 1)


def test_export_task_records_a_failure_for_the_admin(template, admin_user, monkeypatch):
    def broken(**kwargs):  # type: ignore[no-untyped-def]
        raise OSError("disk full")

    monkeypatch.setattr(services, "training_set_zip", broken)
    export = TrainingExport.objects.create(template=template, requested_by=admin_user)

    export_task(export_id=export.pk)

    export.refresh_from_db()
    assert (export.status, export.error) == (ExportStatus.FAILED, "OSError: disk full")


def test_command_writes_a_zip_and_prints_the_report(template, tmp_path):
    out = io.StringIO()

    call_command(
        "export_training_set", str(tmp_path / "set.zip"), template="editorial-cover", min_real=4, split=0.5, stdout=out
    )

    report = json.loads(out.getvalue())
    with zipfile.ZipFile(tmp_path / "set.zip") as archive:
        assert json.loads(archive.read("report.json")) == report
    assert report["split"]["train"] == {"real": 0, "synthetic": 2, "total": 2}


def test_command_refuses_an_unknown_template_and_a_folder_in_use(template, tmp_path):
    (tmp_path / "old.txt").write_text("x")

    with pytest.raises(CommandError, match="No template"):
        call_command("export_training_set", str(tmp_path / "new"), template="nope")
    with pytest.raises(CommandError, match="not empty"):
        call_command("export_training_set", str(tmp_path), template="editorial-cover")
