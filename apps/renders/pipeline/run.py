"""Running an attempt: claim it, call the engine, store the image and hand it to verification;
an engine error ends the attempt and the job falls back to another engine or fails."""

import logging
import secrets
import time
from decimal import Decimal

from django.core.files.base import ContentFile
from django.db import transaction
from django.utils import timezone

from apps.engines.services import engine_generate
from apps.engines.types import EngineError, EngineRequest, RefusedError
from apps.policy import services as policy
from apps.renders.compositor import composite_text
from apps.renders.models import AttemptStatus, JobStatus, RenderAttempt, RenderJob, Stage
from apps.renders.pipeline import enqueue
from apps.renders.pipeline.attempts import attempt_start, ms_since
from apps.renders.pipeline.hedging import hedge_allowed, preview_rival_pending
from apps.renders.pipeline.outcome import attempt_conclude
from apps.renders.pipeline.state import final_in_flight, job_finish, job_to_final_stage

log = logging.getLogger(__name__)


def attempt_run(*, attempt_id: int) -> None:
    """Call the engine for a QUEUED attempt, store its image, then hand it to verification.

    Claims the attempt with a conditional update (QUEUED → RUNNING): a redelivered task
    finds it claimed and does nothing. Engine errors end the attempt as ERROR with the
    error's kind; the job then falls back or fails with the reason.
    """
    now = timezone.now()
    if (
        RenderAttempt.objects.filter(pk=attempt_id, status=AttemptStatus.QUEUED).update(
            status=AttemptStatus.RUNNING, started_at=now
        )
        != 1
    ):
        log.info("attempt %s is not queued any more; nothing to do", attempt_id)
        return
    attempt = RenderAttempt.objects.select_related("job__template", "job__tier", "engine").get(pk=attempt_id)
    job = attempt.job
    if hedge_allowed(attempt):
        enqueue.preview_hedge(attempt)  # checks, one latency budget from now, whether this call answered
    timings = {"queue_wait": round((now - attempt.created_at).total_seconds() * 1000, 1)}
    request = EngineRequest(
        prompt=attempt.prompt,
        negative_prompt=job.negative_prompt,
        seed=attempt.seed,
        width=job.width,
        height=job.height,
        guidance=attempt.guidance,
        adapter_ref=job.template.adapter_ref if job.template else "",
        extra={
            "text_regions": [job.regions[name] for name in job.texts if name in job.regions],
            "palette": job.template.palette if job.template else [],
            "quality": job.tier.quality,
        },
    )
    started = time.perf_counter()
    try:
        result = engine_generate(engine=attempt.engine, request=request)
    except EngineError as exc:
        timings["engine"] = ms_since(started)
        attempt_fail(
            attempt, kind=exc.kind, message=exc.message, timings=timings, refused=isinstance(exc, RefusedError)
        )
        return
    timings["engine"] = ms_since(started)
    timings.update({f"engine_{k}": round(v, 1) for k, v in result.timings_ms.items()})
    image = result.image
    if job.texts and (attempt.step == "composite" or (job.template and job.template.composite_text)):
        started = time.perf_counter()
        image = composite_text(
            image=image,
            texts=job.texts,
            regions=job.regions,
            palette=job.template.palette if job.template else [],
        )
        result.mime_type = "image/png"
        timings["composite"] = ms_since(started)
    started = time.perf_counter()
    extension = {"image/png": "png", "image/jpeg": "jpg", "image/webp": "webp"}.get(result.mime_type, "bin")
    name = f"{job.public_id}-{attempt.number}-{secrets.token_hex(8)}.{extension}"
    attempt.image.save(name, ContentFile(image), save=False)
    timings["store"] = ms_since(started)
    price = policy.engine_price(engine=attempt.engine, width=job.width, height=job.height, quality=job.tier.quality)
    attempt.cost_usd = price * Decimal(str(result.billed_units))
    attempt.image_mime = result.mime_type
    attempt.sent = result.sent
    attempt.seed_honoured = result.seed_used is not None and result.seed_used == attempt.seed
    attempt.vendor_request_id = result.vendor_request_id
    attempt.timings_ms = timings
    attempt.status = AttemptStatus.VERIFYING
    attempt.save(
        update_fields=[
            "image",
            "cost_usd",
            "image_mime",
            "sent",
            "seed_honoured",
            "vendor_request_id",
            "timings_ms",
            "status",
        ]
    )
    if job.tier.verify_ocr and job.texts:
        transaction.on_commit(lambda: enqueue.attempt_verify(attempt), robust=True)
    else:
        attempt_conclude(attempt, status=AttemptStatus.PASSED)


def attempt_fail(attempt: RenderAttempt, *, kind: str, message: str, timings: dict, refused: bool = False) -> None:
    """End an attempt with an engine error and decide what the job does next."""
    with transaction.atomic():
        if (
            RenderAttempt.objects.filter(pk=attempt.pk, status=AttemptStatus.RUNNING).update(
                status=AttemptStatus.ERROR,
                error_kind=kind,
                error=message,
                timings_ms=timings,
                finished_at=timezone.now(),
            )
            != 1
        ):
            return
        job = RenderJob.objects.select_related("tier").get(pk=attempt.job_id)
        before_preview = job.status in (JobStatus.PREVIEWING, JobStatus.PREVIEW_READY)
        if attempt.stage == Stage.FINAL and job.auto_final and before_preview:
            job_to_final_stage(job, reason=f"The final, started beside the preview, failed ({kind}).")
        if job.status != (JobStatus.PREVIEWING if attempt.stage == Stage.PREVIEW else JobStatus.RENDERING):
            return  # the job has moved on (a hedge rival answered first): this error decides nothing
        if preview_rival_pending(attempt):
            return  # a hedged preview: the other attempt may still answer
        if attempt.stage == Stage.PREVIEW and job.auto_final and final_in_flight(job):
            if refused:  # the final asks the same of an engine: stop what has not started yet
                job.attempts.filter(stage=Stage.FINAL, status=AttemptStatus.QUEUED).update(
                    status=AttemptStatus.CANCELLED, finished_at=timezone.now(), error="The preview was refused."
                )
                if final_in_flight(job):
                    return  # the running final still answers and decides
                job_finish(job, to=JobStatus.FAILED, reason=f"The engine refused this request: {message}")
                return
            job_to_final_stage(job, reason=f"The preview failed ({kind}: {message}); the final is rendering.")
            return
        fallback = job.tier.fallback_engine
        made = job.attempts.count()
        if refused:
            job_finish(job, to=JobStatus.FAILED, reason=f"The engine refused this request: {message}")
        elif fallback and fallback.pk != attempt.engine_id and made < job.tier.max_attempts:
            attempt_start(
                job,
                stage=attempt.stage,
                engine=fallback,
                guidance=attempt.guidance,
                step="fallback",
                reason=f"{attempt.engine.name} failed ({kind}: {message}); trying the fallback engine.",
            )
        else:
            job_finish(job, to=JobStatus.FAILED, reason=f"{attempt.engine.name} failed ({kind}): {message}")
