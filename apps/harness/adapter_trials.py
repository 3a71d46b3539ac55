"""The before/after preset: a template rendered with and without its adapter on the same seeds.

Both arms use one engine, the template's texts and the same seeds; the "without" jobs are
submitted with `adapter_off`, so their attempts record adapter_use "off". Everything else (tier,
gate, escalation, moderation, cost) is the pipeline's as for any job.
"""

from dataclasses import dataclass

from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction

from apps.catalog.models import Template
from apps.engines.adapter_support import engine_adapter_support
from apps.engines.models import Engine
from apps.harness.models import AdapterTrial, AdapterTrialCell
from apps.harness.services import attempt_verdict
from apps.policy.models import Tier
from apps.renders.adapter_metrics import AdapterArm, ArmDelta, adapter_arms, arm_delta
from apps.renders.models import SETTLED_STATUSES, RenderAttempt, RenderJob, Stage
from apps.renders.pipeline.submit import SubmissionError, job_submit

MAX_SEEDS = 30  # two renders per seed


class TrialError(ValueError):
    pass


def adapter_trial_create(
    *,
    template: Template,
    engine: Engine,
    texts: dict[str, str],
    seeds: list[int],
    tier: Tier,
    by: AbstractBaseUser,
) -> AdapterTrial:
    """Create the trial and two final-only jobs per seed (with, without), pinned to `engine`.

    Raises TrialError when the template has no adapter, the engine cannot apply one (the
    comparison would show nothing), there are too many or no seeds, or a job is refused
    at submission (nothing is written then)."""
    if template.adapter is None:
        raise TrialError(f"{template.name} has no adapter to compare against.")
    support = engine_adapter_support(engine=engine, reference=template.adapter.reference)
    if not support.supported:
        raise TrialError(f"{engine.label} cannot apply adapters: {support.how}")
    seeds = list(dict.fromkeys(seeds))
    if not seeds or len(seeds) > MAX_SEEDS:
        raise TrialError(f"Give between 1 and {MAX_SEEDS} seeds.")
    strength = template.effective_adapter_strength
    assert strength is not None
    with transaction.atomic():
        trial = AdapterTrial.objects.create(
            template=template,
            adapter=template.adapter,
            strength=strength,
            engine=engine,
            texts=texts,
            seeds=seeds,
            created_by=by,
        )
        for seed in seeds:
            for with_adapter in (False, True):
                try:
                    job = job_submit(
                        submitted_by=by,
                        template=template,
                        texts=texts,
                        seed=seed,
                        engine=engine,
                        tier=tier,
                        source="harness",
                        with_preview=False,
                        adapter_off=not with_adapter,
                    )
                except SubmissionError as exc:
                    raise TrialError(str(exc)) from exc
                AdapterTrialCell.objects.create(trial=trial, seed=seed, with_adapter=with_adapter, job=job)
    return trial


@dataclass
class TrialCell:
    job: RenderJob
    attempt: RenderAttempt | None  # the first final attempt: the engine's own render at the seed

    @property
    def verdict(self) -> str:
        return attempt_verdict(self.attempt)


@dataclass
class TrialRow:
    seed: int
    without: TrialCell
    with_adapter: TrialCell


@dataclass
class TrialView:
    rows: list[TrialRow]
    without: AdapterArm
    with_adapter: AdapterArm
    delta: ArmDelta
    running: bool


def _first_final(job: RenderJob) -> RenderAttempt | None:
    return next((a for a in job.attempts.all() if a.stage == Stage.FINAL), None)


def adapter_trial_view(trial: AdapterTrial) -> TrialView:
    """The trial's rows (one per seed: without, with) and its two arms with their difference."""
    cells = trial.cells.select_related("job").prefetch_related("job__attempts__verification")
    by_seed: dict[int, dict[bool, TrialCell]] = {}
    for cell in cells:
        by_seed.setdefault(cell.seed, {})[cell.with_adapter] = TrialCell(cell.job, _first_final(cell.job))
    rows = [TrialRow(seed, pair[False], pair[True]) for seed, pair in by_seed.items() if len(pair) == 2]
    jobs = RenderJob.objects.filter(pk__in=[c.job_id for c in trial.cells.all()])
    arms = adapter_arms(jobs=jobs)
    without = arms[0]
    with_adapter = next((a for a in arms[1:] if a.key == trial.adapter.slug), None) or AdapterArm(
        trial.adapter.slug, f"With {trial.adapter.name}"
    )
    running = any(cell.job.status not in SETTLED_STATUSES for row in rows for cell in (row.without, row.with_adapter))
    return TrialView(
        rows=rows,
        without=without,
        with_adapter=with_adapter,
        delta=arm_delta(with_adapter=with_adapter, without=without),
        running=running,
    )
