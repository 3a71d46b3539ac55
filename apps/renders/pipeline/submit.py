"""Submission and admission: validate a request, decide admission (admit, degrade, defer,
refuse) from the policy and the queues' load, create the job and start its first attempt."""

import secrets
from datetime import UTC, datetime
from functools import partial
from typing import Any

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.db import connection, transaction
from django.db.models import Count, Min, Q
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from apps.catalog.models import Template
from apps.catalog.services import ResolvedPrompt, template_resolve
from apps.core.hotsql import rows_insert
from apps.engines.models import Engine
from apps.engines.prompts import quoted_texts
from apps.policy import services as policy
from apps.policy.models import Tier
from apps.renders.models import AttemptStatus, JobStatus, RenderAttempt, RenderJob, Stage, job_typed_text
from apps.renders.pipeline import enqueue
from apps.renders.pipeline.attempts import MAX_SEED, attempt_build, attempt_start
from apps.renders.pipeline.state import job_create
from apps.renders.text_checks import texts_problems


class SubmissionError(ValueError):
    """Bad input to `job_submit`; `errors` maps field → message."""

    def __init__(self, errors: dict[str, str]):
        super().__init__("; ".join(f"{k}: {v}" for k, v in errors.items()))
        self.errors = errors


def parse_size(value: str) -> tuple[int, int]:
    """'768x512' → (768, 512), within the configured limits; ValueError says what is wrong."""
    try:
        w_text, h_text = str(value).lower().split("x")
        width, height = int(w_text), int(h_text)
    except (ValueError, AttributeError):
        raise ValueError(f"Size must look like 768x512 (got {value!r}).") from None
    limit = settings.RENDERHUB_MAX_SIDE
    if not (64 <= width <= limit and 64 <= height <= limit):
        raise ValueError(f"Each side must be between 64 and {limit} pixels (got {width}x{height}).")
    return width, height


def prompt_resolve(*, template: Template, texts: dict[str, str]) -> ResolvedPrompt:
    """The template's prompt with `texts` in its slots; SubmissionError names what is wrong."""
    try:
        return template_resolve(template=template, texts=texts)
    except ValueError as exc:
        raise SubmissionError(getattr(exc, "errors", {"texts": str(exc)})) from exc


def job_submit(
    *,
    submitted_by: AbstractBaseUser,
    tier: Tier | None = None,
    asset_class: str = "",
    template: Template | None = None,
    texts: dict[str, str] | None = None,
    prompt: str = "",
    seed: int | None = None,
    width: int | None = None,
    height: int | None = None,
    engine: Engine | None = None,
    source: str = "web",
    with_preview: bool = True,
    adapter_off: bool = False,
) -> RenderJob:
    """Validate, admit and create a job; enqueue its first attempt after the commit.

    Either a template (with its slot texts) or a free prompt. The tier comes from the
    argument, else from the asset class's routing. Admission may admit, degrade (another
    tier), defer or refuse; the decision and its reason are stored on the job. `adapter_off`
    renders without the template's adapter (the before/after harness's other arm). Raises
    SubmissionError for bad input (nothing is written then).
    """
    errors: dict[str, str] = {}
    if template is not None:
        resolved = prompt_resolve(template=template, texts=texts or {})
        job_prompt, job_texts, regions = resolved.prompt, resolved.texts, resolved.regions
        negative = template.negative_prompt
        width, height = width or template.width, height or template.height
        asset_class = asset_class or template.asset_class
    else:
        job_prompt = " ".join(prompt.split())
        if not job_prompt:
            errors["prompt"] = "A prompt is required."
        job_texts = dict(texts) if texts else {f"text{i + 1}": t for i, t in enumerate(quoted_texts(job_prompt))}
        regions, negative = {}, ""
        if not width or not height:
            width, height = 768, 512
    asset_class = asset_class or "editorial"
    if tier is None:
        tier = policy.tier_for_asset_class(asset_class=asset_class)
        if tier is None:
            errors["asset_class"] = f"No tier is routed for asset class {asset_class!r}."
    errors.update(texts_problems(texts=job_texts, tier=tier, from_prompt=template is None and not texts))
    if seed is None:
        seed = secrets.randbelow(MAX_SEED)
    elif not 0 <= seed <= MAX_SEED:
        errors["seed"] = f"Seed must be between 0 and {MAX_SEED}."
    if errors:
        raise SubmissionError(errors)
    assert tier is not None and width is not None and height is not None
    inputs = admission_inputs(tier=tier, with_preview=with_preview)

    job = RenderJob(
        template=template,
        texts=job_texts,
        typed_text=job_typed_text(job_texts),
        prompt=job_prompt,
        negative_prompt=negative,
        regions=regions,
        seed=seed,
        width=width,
        height=height,
        tier=tier,
        requested_tier=tier,
        asset_class=asset_class,
        engine=engine,
        source=source,
        with_preview=with_preview,
        adapter_off=adapter_off,
        submitted_by=submitted_by,
    )
    # No savepoint of its own: nothing catches an error of this block inside an enclosing
    # transaction (the API's idempotency claim, the OpenAI facade's all-or-none block).
    # Admission is decided before the job is written (its reservation is keyed by the
    # job's public id, set already), so the job is inserted once, at the status it ends at.
    with transaction.atomic(savepoint=False):
        decision = job_admission_decide(job, tier=tier, inputs=inputs, new_ref=True)
        job.admission, job.admission_reason = decision.outcome, decision.reason
        job.estimated_cost_usd = decision.estimate_usd
        job.tier = decision.tier or tier
        job.auto_final = job.tier.auto_final or not with_preview
        job.defer_until = decision.defer_until
        if decision.outcome == policy.Outcome.REFUSE:
            job_create(job, reason=decision.reason, by=submitted_by, moves=[(JobStatus.REFUSED, decision.reason)])
        elif decision.outcome == policy.Outcome.DEFER:
            job_create(job, reason=decision.reason, by=submitted_by, moves=[(JobStatus.DEFERRED, decision.reason)])
        else:
            job_start_new(job, reason=decision.reason, by=submitted_by)
    return job


def _queue_loads(*, tier: Tier, stages: list[str]) -> dict[str, tuple[int, float | None]]:
    """stage → (attempts waiting, attempts finished per second lately) on the queue `tier`
    sends that stage's attempts to, counting every tier that shares that queue. The rate is
    None for a queue nobody waits on (admission predicts no wait for it whatever its rate,
    as `verification_load` does) or too few finished to measure one.

    Written in SQL: the same query through the ORM (three filtered aggregates per stage) took
    about 7 ms of CPU to build at every submission, a sixth of the request (issue 13). One
    statement reads the queued attempts (index on status) joined to their jobs for the tier;
    only for a stage with attempts waiting does a second read those finished in the last 60 s
    (index on (stage, finished_at)): that one joins every attempt a busy queue finished in the
    window, about 2 µs of PostgreSQL CPU each, so a submission to an idle queue no longer pays
    for the last minute's work."""
    now = timezone.now()
    since = connection.ops.adapt_datetimefield_value(now - timezone.timedelta(seconds=60))
    queues = policy.tier_queues()
    on_queue: dict[str, tuple[str, list[Any]]] = {}
    for stage in stages:
        key = "preview" if stage == Stage.PREVIEW else "final"
        default = settings.RENDERHUB_QUEUES[key]
        mine = (tier.preview_queue if stage == Stage.PREVIEW else tier.final_queue) or default
        tier_ids = [t.pk for t in queues if (getattr(t, f"{key}_queue") or default) == mine]
        sql = f"a.stage = %s AND j.tier_id IN ({', '.join(['%s'] * len(tier_ids)) or 'NULL'})"
        on_queue[stage] = (sql, [stage, *tier_ids])
    tables = f"FROM {RenderAttempt._meta.db_table} a JOIN {RenderJob._meta.db_table} j ON j.id = a.job_id"

    def in_list(values: list[str]) -> str:
        return ", ".join(["%s"] * len(values))

    columns = [f"SUM(CASE WHEN {on_queue[stage][0]} THEN 1 ELSE 0 END)" for stage in stages]
    params: list[Any] = [p for stage in stages for p in on_queue[stage][1]]
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT {', '.join(columns)} {tables} WHERE a.status = %s AND a.stage IN ({in_list(stages)})",
            [*params, AttemptStatus.QUEUED, *stages],
        )
        depths = {stage: int(value or 0) for stage, value in zip(stages, cursor.fetchone(), strict=True)}
    waiting = [stage for stage in stages if depths[stage] > 0]
    loads: dict[str, tuple[int, float | None]] = dict.fromkeys(stages, (0, None))
    if not waiting:
        return loads
    columns, params = [], []
    for stage in waiting:
        sql, stage_params = on_queue[stage]
        columns += [
            f"SUM(CASE WHEN {sql} THEN 1 ELSE 0 END)",
            f"MIN(CASE WHEN {sql} THEN a.finished_at END)",
        ]
        params += [*stage_params, *stage_params]
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT {', '.join(columns)} {tables} WHERE a.stage IN ({in_list(waiting)}) AND a.finished_at >= %s",
            [*params, *waiting, since],
        )
        row = cursor.fetchone()
    for i, stage in enumerate(waiting):
        n, first = int(row[2 * i] or 0), _aware(row[2 * i + 1])
        if n < 5 or first is None:  # too few to measure a rate
            loads[stage] = (depths[stage], None)
        else:
            # Over the time the queue has actually been finishing work (≤ 60 s), not the whole
            # window, so a burst's first seconds are not mistaken for a slow queue.
            loads[stage] = (depths[stage], n / max((now - first).total_seconds(), 1.0))
    return loads


def _aware(value: datetime | str | None) -> datetime | None:
    """A timestamp column read by hand: PostgreSQL gives an aware datetime, SQLite (the
    embedded default) the text Django stored, naive UTC."""
    if isinstance(value, str):
        parsed = parse_datetime(value)
        return None if parsed is None else (parsed if timezone.is_aware(parsed) else timezone.make_aware(parsed, UTC))
    return value


def job_admission_decide(
    job: RenderJob, *, tier: Tier, inputs: dict[str, Any], new_ref: bool = False
) -> policy.AdmissionDecision:
    """Admission for `job` on `tier` (at submission, and again when a deferred job's time
    comes). `new_ref`: the job is new (not yet saved), so no reservation holds its id yet."""
    return policy.admission_decide(
        tier=tier,
        engine=job.engine,
        width=job.width,
        height=job.height,
        asset_class=job.asset_class,
        ref=str(job.public_id),
        template=job.template.slug if job.template else "",
        with_preview=job.with_preview,
        team=policy.team_for_user(user=job.submitted_by),
        new_ref=new_ref,
        **inputs,
    )


OCR_SAMPLE = 20  # latest verification results whose timings give the OCR rate


def verification_load(*, previews_at_rest: bool = False) -> tuple[int, float | None]:
    """(images waiting for the gate, images verified per second) on one verification queue:
    `verify.preview` (previews a job rests at, `previews_at_rest`) or `verify` (the rest);
    `enqueue.verify_queue_for` routes by the same rule. A preview-tier job does not wait
    behind the OCR of finals, so admission does not count that backlog against it.

    Depth counts VERIFYING attempts without a result (index on status). The rate is what the
    queue's gate finished over the last 60 s when it was busy enough to measure (≥ 5 results),
    else the OCR speed of the latest OCR_SAMPLE results (their mean `seconds`, from the
    created_at index) times the queue's processes (RENDERHUB_VERIFY_CONCURRENCY, or
    RENDERHUB_VERIFY_PREVIEW_CONCURRENCY); None with no history."""
    from apps.verification.models import VerificationResult

    waiting = RenderAttempt.objects.filter(status=AttemptStatus.VERIFYING, verification__isnull=True)
    on_queue = Q(stage=Stage.PREVIEW, job__auto_final=False)
    depth = (waiting.filter(on_queue) if previews_at_rest else waiting.exclude(on_queue)).count()
    if depth == 0:
        return 0, None
    now = timezone.now()
    results = VerificationResult.objects.filter(created_at__gte=now - timezone.timedelta(seconds=60))
    done = Q(attempt__stage=Stage.PREVIEW, attempt__job__auto_final=False)
    results = results.filter(done) if previews_at_rest else results.exclude(done)
    recent = results.aggregate(n=Count("pk"), first=Min("created_at"))
    if recent["n"] >= 5:
        return depth, recent["n"] / max((now - recent["first"]).total_seconds(), 1.0)
    seconds = list(VerificationResult.objects.order_by("-created_at").values_list("seconds", flat=True)[:OCR_SAMPLE])
    mean = sum(seconds) / len(seconds) if seconds else 0.0
    if mean <= 0:
        return depth, None
    processes = (
        settings.RENDERHUB_VERIFY_PREVIEW_CONCURRENCY if previews_at_rest else settings.RENDERHUB_VERIFY_CONCURRENCY
    )
    return depth, processes / mean


def admission_inputs(*, tier: Tier, with_preview: bool = True) -> dict[str, Any]:
    """What admission needs to know about the queues a job will wait on: the first stage's
    queue, for a tier that renders its final right after the preview the final queue, and
    for a tier that verifies, the verification queue (images ÷ measured OCR rate)."""
    first = Stage.PREVIEW if with_preview else Stage.FINAL
    also_final = with_preview and tier.auto_final
    loads = _queue_loads(tier=tier, stages=[first, Stage.FINAL] if also_final else [first])
    depth, rate = loads[first]
    inputs: dict[str, Any] = {"queue_depth": depth, "throughput_per_s": rate}
    if tier.verify_ocr:
        inputs["verify_queue_depth"], inputs["verify_throughput_per_s"] = verification_load(
            previews_at_rest=with_preview and not tier.auto_final
        )
    if also_final:
        inputs["final_queue_depth"], inputs["final_throughput_per_s"] = loads[Stage.FINAL]
    return inputs


def _first_attempts(job: RenderJob) -> list[tuple[str, Engine, str, bool]]:
    """The attempts an admitted job starts with: [(stage, engine, reason, move_job)]."""
    if not job.with_preview:
        return [(Stage.FINAL, job.engine or job.tier.final_engine, "", True)]
    first = [(Stage.PREVIEW, job.engine or job.tier.preview_engine, "", True)]
    if job.auto_final and job.tier.final_with_preview:
        reason = "Final render started beside the preview for this tier."
        first.append((Stage.FINAL, job.engine or job.tier.final_engine, reason, False))
    return first


def job_start_new(job: RenderJob, *, reason: str, by: AbstractBaseUser | None) -> RenderAttempt:
    """`job_start` for a job admitted at submission and not yet saved: the job is inserted
    already moved to its first stage's status (`job_create`, `reason` and `by` on its QUEUED
    event) and its first attempts (`_first_attempts`, numbered from 1) with one INSERT; each
    engine call is enqueued after the commit. Returns the first attempt."""
    plan = _first_attempts(job)
    attempts = [
        attempt_build(job, number=number, stage=stage, engine=engine, reason=why)
        for number, (stage, engine, why, _) in enumerate(plan, start=1)
    ]
    stage = plan[0][0]
    target = JobStatus.PREVIEWING if stage == Stage.PREVIEW else JobStatus.RENDERING
    job_create(job, reason=reason, by=by, moves=[(target, f"{stage.title()} attempt 1 queued.")])
    for attempt in attempts:
        attempt.job = job
    rows_insert(attempts)
    for attempt in attempts:
        queue = enqueue.stage_queue(tier=job.tier, stage=attempt.stage)
        # robust: a broker outage must not fail the request; the sweeper re-enqueues QUEUED attempts.
        transaction.on_commit(partial(enqueue.attempt_run, attempt, queue=queue), robust=True)
    return attempts[0]


def job_start(job: RenderJob) -> RenderAttempt:
    """Create and enqueue the first attempt of an admitted job (QUEUED → PREVIEWING|RENDERING).

    On auto-final tiers with `final_with_preview` the final starts beside the preview: the
    preview is not a gate there (the final renders whatever its verdict), the tier's latency
    budget covers submission → final, and the final no longer waits for the preview and its
    verification (about 0.5 s with the built-in engines). Returns the first attempt."""
    started = [
        attempt_start(job, stage=stage, engine=engine, reason=why, move_job=move)
        for stage, engine, why, move in _first_attempts(job)
    ]
    return started[0]
