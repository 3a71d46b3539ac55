"""Previews an editor waits for are verified on their own queue, by their own worker, at a
higher CPU priority than finals (Procfile, deploy/systemd, apps/core/priority.py)."""

import os
import subprocess
import sys
import weakref
from pathlib import Path

import pytest

from apps.catalog.models import Template
from apps.policy.models import Tier
from apps.renders.pipeline import enqueue
from apps.renders.pipeline.outcome import attempt_verify
from apps.renders.pipeline.run import attempt_run
from apps.renders.pipeline.submit import job_submit
from scripts.fault_table import WORKERS, procfile_commands

ROOT = Path(__file__).resolve().parent.parent.parent


@pytest.fixture(autouse=True)
def _no_simulated_wait(settings):  # type: ignore[no-untyped-def]
    settings.RENDERHUB_BUILTIN_LATENCY_SCALE = 0


@pytest.fixture
def sent(monkeypatch):  # type: ignore[no-untyped-def]
    """(task name, queue) of every task the pipeline sends."""
    calls: list[tuple[str, str]] = []
    monkeypatch.setattr(enqueue, "_send", lambda task, *, kwargs, queue, countdown=None: calls.append((task, queue)))
    return calls


def _render(attempt_id: int, capture) -> None:  # type: ignore[no-untyped-def]
    with capture(execute=True):
        attempt_run(attempt_id=attempt_id)


def _verify_queues(sent: list[tuple[str, str]]) -> list[str]:
    return [queue for task, queue in sent if task == "renders.verify_attempt"]


@pytest.mark.django_db
def test_attempt_run_preview_tier_preview_is_verified_on_the_preview_verify_queue(
    demo, editor, sent, settings, django_capture_on_commit_callbacks
):
    Tier.objects.filter(slug="preview").update(hedge_previews=False)
    with django_capture_on_commit_callbacks(execute=True):
        job = job_submit(
            submitted_by=editor, template=Template.objects.get(slug="product-thumbnail"), texts={"overlay": "SALE"}
        )
    assert job.tier.slug == "preview"

    _render(job.attempts.get().pk, django_capture_on_commit_callbacks)

    assert _verify_queues(sent) == [settings.RENDERHUB_QUEUES["verify_preview"]]
    assert settings.RENDERHUB_QUEUES["verify_preview"] != settings.RENDERHUB_QUEUES["verify"]


@pytest.mark.django_db
def test_attempt_run_auto_final_tier_preview_and_final_are_verified_on_the_verify_queue(
    demo, editor, sent, settings, django_capture_on_commit_callbacks
):
    # The production tier's budget covers the final: its preview is no deliverable, and its OCR
    # waits behind the preview tier's when the CPU is short.
    Tier.objects.filter(slug="production").update(hedge_previews=False)
    with django_capture_on_commit_callbacks(execute=True):
        job = job_submit(
            submitted_by=editor, template=Template.objects.get(slug="editorial-cover"), texts={"title": "Tide"}
        )
    preview = job.attempts.get()
    _render(preview.pk, django_capture_on_commit_callbacks)
    with django_capture_on_commit_callbacks(execute=True):
        attempt_verify(attempt_id=preview.pk)
    final = job.attempts.get(stage="final")
    _render(final.pk, django_capture_on_commit_callbacks)

    assert _verify_queues(sent) == [settings.RENDERHUB_QUEUES["verify"]] * 2


def test_procfile_every_queue_has_a_worker_and_every_worker_a_systemd_unit():
    from django.conf import settings

    commands = procfile_commands()
    consumed = set()
    for name in WORKERS:
        command = commands[name]
        if " -Q " in command:
            consumed |= set(command.split(" -Q ")[1].split()[0].split(","))
    target = (ROOT / "deploy/systemd/renderhub.target").read_text()

    assert set(settings.RENDERHUB_QUEUES.values()) <= consumed
    assert set(commands) == {"web", *WORKERS}
    for name in WORKERS:
        unit = "renderhub-beat.service" if name == "beat" else f"renderhub-worker@{name}.service"
        assert unit in target


def test_procfile_finals_run_at_a_lower_cpu_priority_than_previews():
    def niceness(name: str) -> int:
        command = procfile_commands()[name]
        return int(command.split("nice -n ")[1].split()[0]) if command.startswith("nice -n ") else 0

    assert niceness("web") < niceness("final")
    assert max(niceness("preview"), niceness("verify-preview")) < min(niceness("final"), niceness("verify"))


@pytest.mark.skipif(not Path("/proc/self/autogroup").exists(), reason="kernel without autogroups")
def test_autogroup_follow_nice_gives_a_niced_worker_session_its_nice_value():
    # A new session, as a Procfile runner or systemd starts each worker: without the autogroup
    # taking the nice value, nice only orders processes inside that one session.
    script = (
        "from apps.core.priority import autogroup_follow_nice; "
        "print(autogroup_follow_nice()); print(open('/proc/self/autogroup').read())"
    )
    out = subprocess.run(
        ["nice", "-n", "7", sys.executable, "-c", script],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
        start_new_session=True,
        env={**os.environ},
    ).stdout.splitlines()

    assert out[0] == "7"
    assert out[1].endswith("nice 7")


def test_celery_worker_init_is_connected_to_the_autogroup_nice():
    from celery import signals

    from renderhub.celery import _nice_holds_across_sessions

    receivers = [ref() if isinstance(ref, weakref.ReferenceType) else ref for _, ref in signals.worker_init.receivers]

    assert _nice_holds_across_sessions in receivers


@pytest.fixture
def finals_ocr_backlog(demo, editor, django_capture_on_commit_callbacks):  # type: ignore[no-untyped-def]
    """40 production images waiting for OCR at 2 images/s (3 results of 1 s, 2 processes):
    20 s of work, far over 4 × either tier's budget."""
    from apps.renders.models import AttemptStatus, RenderAttempt
    from apps.verification.models import VerificationResult

    cover = Template.objects.get(slug="editorial-cover")
    with django_capture_on_commit_callbacks(execute=False):
        for n in range(40):
            job_submit(submitted_by=editor, template=cover, texts={"title": f"Backlog {n}"})
    RenderAttempt.objects.update(status=AttemptStatus.VERIFYING)
    VerificationResult.objects.bulk_create([VerificationResult(verdict="pass", seconds=1.0) for _ in range(3)])


@pytest.mark.django_db
def test_job_submit_preview_tier_not_deferred_by_the_ocr_backlog_of_finals(
    finals_ocr_backlog, editor, settings, django_capture_on_commit_callbacks
):
    settings.RENDERHUB_VERIFY_CONCURRENCY = 2
    with django_capture_on_commit_callbacks(execute=False):
        preview = job_submit(
            submitted_by=editor, template=Template.objects.get(slug="product-thumbnail"), texts={"overlay": "SALE"}
        )
        production = job_submit(
            submitted_by=editor, template=Template.objects.get(slug="editorial-cover"), texts={"title": "Late"}
        )

    assert (preview.tier.slug, preview.admission) == ("preview", "admitted")
    assert (production.tier.slug, production.admission) == ("production", "deferred")
    assert "verification queue 40 deep" in production.admission_reason
