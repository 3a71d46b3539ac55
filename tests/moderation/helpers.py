"""Build jobs that really went through the pipeline (engine → store → gate) into the queue."""

from apps.catalog.models import Template
from apps.engines.models import AdapterKind, Engine
from apps.policy.models import Tier
from apps.renders.models import AttemptStatus, RenderJob
from apps.renders.pipeline.outcome import attempt_verify
from apps.renders.pipeline.run import attempt_run
from apps.renders.pipeline.submit import job_submit


def typo_engine(slug: str = "typo-always") -> Engine:
    """A built-in engine that misspells every text it draws (typo rate 1.0 at guidance 0)."""
    engine, _ = Engine.objects.update_or_create(
        slug=slug,
        defaults={
            "name": "Always misspells",
            "adapter": AdapterKind.BUILTIN,
            "model_id": "builtin-typo-sim",
            "params": {"latency_p50_ms": 1, "latency_sigma": 0.0, "typo_rate": 1.0},
            "is_simulation": True,
            "enabled": True,
            "capabilities": {"seed": True, "guidance": True},
        },
    )
    return engine


def run_pending(job: RenderJob, captured) -> RenderJob:  # type: ignore[no-untyped-def]
    """Run the job's queued attempts (engine, then gate) in this process until it rests."""
    for _ in range(10):
        pending = job.attempts.filter(status__in=[AttemptStatus.QUEUED, AttemptStatus.VERIFYING]).order_by("number")
        attempt = pending.first()
        if attempt is None:
            break
        with captured(execute=False):
            if attempt.status == AttemptStatus.QUEUED:
                attempt_run(attempt_id=attempt.pk)
            else:
                attempt_verify(attempt_id=attempt.pk)
    job.refresh_from_db()
    return job


def review_job(  # type: ignore[no-untyped-def]
    *, editor, captured, title: str = "Harbour Lights Tonight", seed: int = 5, template: str = "editorial-cover"
) -> RenderJob:
    """A final render by an always-misspelling engine that the gate failed into the queue."""
    tier = Tier.objects.get(slug="production")
    Tier.objects.filter(pk=tier.pk).update(max_attempts=1)
    tpl = Template.objects.get(slug=template)
    slot = tpl.slots[0]["name"]
    with captured(execute=False):
        job = job_submit(
            submitted_by=editor,
            template=tpl,
            texts={slot: title},
            seed=seed,
            engine=typo_engine(),
            with_preview=False,
            tier=tier,
        )
    return run_pending(job, captured)
