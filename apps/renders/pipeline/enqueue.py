"""The one place that sends Celery tasks.

Tasks are looked up by name in the Celery app's registry (`RendersConfig.ready` imports
`apps.renders.tasks`, which registers them), so no pipeline module imports the tasks module
and `tasks.py` imports the pipeline without a circle; import-linter enforces it. Callers send
only after their transaction commits (`transaction.on_commit(..., robust=True)`).
"""

from celery import current_app
from django.conf import settings

from apps.policy.models import Tier
from apps.renders.models import RenderAttempt, Stage


def queue_for(attempt: RenderAttempt) -> str:
    """The queue an attempt's engine call goes to: its tier's preview or final queue."""
    return stage_queue(tier=attempt.job.tier, stage=attempt.stage)


def stage_queue(*, tier: Tier, stage: str) -> str:
    """The queue `tier` sends `stage` attempts to."""
    if stage == Stage.PREVIEW:
        return tier.preview_queue or settings.RENDERHUB_QUEUES["preview"]
    return tier.final_queue or settings.RENDERHUB_QUEUES["final"]


def _send(task: str, *, kwargs: dict[str, int], queue: str, countdown: float | None = None) -> None:
    # The registered task's own apply_async (its options, eager mode), found by name so that
    # no pipeline module imports the tasks module. KeyError if the tasks were never imported.
    current_app.tasks[task].apply_async(kwargs=kwargs, queue=queue, countdown=countdown)


def attempt_run(attempt: RenderAttempt, *, queue: str | None = None) -> None:
    """Send `renders.run_attempt` (the engine call) to the attempt's stage queue (`queue`
    when the caller knows it already: no read of the job's tier then)."""
    _send("renders.run_attempt", kwargs={"attempt_id": attempt.pk}, queue=queue or queue_for(attempt))


def preview_hedge(attempt: RenderAttempt, *, countdown: float | None = None) -> None:
    """Send `renders.hedge_preview` to run `countdown` seconds from now (default: the tier's
    latency budget), on the preview's queue."""
    if countdown is None:
        countdown = attempt.job.tier.max_latency_ms / 1000
    _send("renders.hedge_preview", kwargs={"attempt_id": attempt.pk}, queue=queue_for(attempt), countdown=countdown)


def verify_queue_for(attempt: RenderAttempt) -> str:
    """The queue an attempt's verification goes to.

    A preview the job rests at (tiers whose final waits for the editor: the preview tier,
    800 ms budget) goes to the preview verification queue, which its own worker consumes at a
    higher CPU priority; every other image (finals, and the previews of auto-final tiers,
    whose budget covers the final) to the verify queue. Under a load that saturates the CPU,
    OCR of finals then waits, not the previews an editor is watching."""
    queues = settings.RENDERHUB_QUEUES
    if attempt.stage == Stage.PREVIEW and not attempt.job.auto_final:
        return queues["verify_preview"]
    return queues["verify"]


def attempt_verify(attempt: RenderAttempt) -> None:
    """Send `renders.verify_attempt` (the verification gate) to its verify queue
    (`verify_queue_for`)."""
    _send("renders.verify_attempt", kwargs={"attempt_id": attempt.pk}, queue=verify_queue_for(attempt))
