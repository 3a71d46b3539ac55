"""Side-by-side comparisons: the same prompts and seeds on several engines."""

import io
from dataclasses import dataclass
from decimal import Decimal

from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction
from PIL import Image, ImageChops, ImageOps, ImageStat

from apps.core.images import load_image
from apps.core.stats import Percentiles, percentiles
from apps.engines.models import Engine
from apps.policy.models import Tier
from apps.renders.models import SETTLED_STATUSES, RenderAttempt
from apps.renders.pipeline.submit import SubmissionError, job_submit

MAX_CELLS = 60


class ComparisonError(ValueError):
    pass


def comparison_create(
    *,
    name: str,
    engines: list[Engine],
    prompts: list[str],
    seeds: list[int],
    width: int,
    height: int,
    tier: Tier,
    by: AbstractBaseUser,
):  # type: ignore[no-untyped-def]
    """Create a comparison and one job per (prompt, seed, engine), each pinned to its engine
    and going straight to the final stage; the jobs pass admission like any other."""
    from apps.harness.models import Comparison, ComparisonCell

    prompts = [p.strip() for p in prompts if p.strip()]
    if not engines or not prompts or not seeds:
        raise ComparisonError("A comparison needs at least one engine, one prompt and one seed.")
    cells = len(engines) * len(prompts) * len(seeds)
    if cells > MAX_CELLS:
        raise ComparisonError(f"{cells} renders is more than the {MAX_CELLS} a comparison may start.")
    with transaction.atomic():
        comparison = Comparison.objects.create(
            name=name, prompts=prompts, seeds=seeds, width=width, height=height, created_by=by
        )
        comparison.engines.set(engines)
        for index, prompt in enumerate(prompts):
            for seed in seeds:
                for engine in engines:
                    try:
                        job = job_submit(
                            submitted_by=by,
                            prompt=prompt,
                            seed=seed,
                            width=width,
                            height=height,
                            engine=engine,
                            tier=tier,
                            source="harness",
                            with_preview=False,
                        )
                    except SubmissionError as exc:
                        raise ComparisonError(str(exc)) from exc
                    ComparisonCell.objects.create(
                        comparison=comparison, prompt_index=index, seed=seed, engine=engine, job=job
                    )
    return comparison


def _load_rgb(attempt: RenderAttempt, size: tuple[int, int]) -> Image.Image:
    with attempt.image.open("rb") as fh:
        img = load_image(fh.read())
    return img if img.size == size else img.resize(size)


def image_difference(a: RenderAttempt, b: RenderAttempt) -> float:
    """Mean absolute pixel difference of two attempts' images, 0–100 %."""
    base = _load_rgb(a, (256, 256))
    other = _load_rgb(b, (256, 256))
    mean = ImageStat.Stat(ImageChops.difference(base, other)).mean
    return round(sum(mean) / len(mean) / 255 * 100, 1)


def difference_heatmap(a: RenderAttempt, b: RenderAttempt) -> bytes:
    """A PNG showing where two images differ (bright = different)."""
    first = _load_rgb(a, (384, 256))
    diff = ImageOps.autocontrast(ImageChops.difference(first, _load_rgb(b, first.size)).convert("L"))
    out = io.BytesIO()
    ImageOps.colorize(diff, black="#101018", white="#ffcc33").save(out, format="PNG", compress_level=1)
    return out.getvalue()


def cell_attempt(cell) -> RenderAttempt | None:  # type: ignore[no-untyped-def]
    """The cell's own result: the first final attempt by the cell's engine at the cell's seed.

    A job that fails verification climbs its tier's ladder (stronger guidance, a new seed,
    another engine, compositing); those later attempts are the pipeline's, not the engine's,
    so a comparison never shows them in the engine's cell. Needs `job__attempts` prefetched."""
    for attempt in cell.job.attempts.all():
        if attempt.stage == "final" and attempt.engine_id == cell.engine_id and attempt.seed == cell.seed:
            return attempt
    return None


def attempt_verdict(attempt: RenderAttempt | None) -> str:
    """pass | review | fail from the gate, "error" when the engine call failed, "" while running."""
    if attempt is None:
        return ""
    if attempt.verification is not None:
        return attempt.verification.verdict
    return "error" if attempt.status == "error" else ""


@dataclass
class CellView:
    cell_id: int
    engine: Engine
    job_status: str
    attempt: RenderAttempt | None  # the engine's own attempt at this seed (image may be missing)
    later_attempts: int  # escalation attempts after it (not the engine's result)
    difference: float | None

    @property
    def verdict(self) -> str:
        return attempt_verdict(self.attempt)


@dataclass
class EngineSummary:
    """One engine's own attempts in a comparison: verdicts, engine time (ms), cost (US$)."""

    engine: Engine
    attempts: int
    passed: int
    failed: int  # fail, review or error
    engine_ms: Percentiles
    cost_usd: Decimal

    @property
    def pass_rate(self) -> float | None:
        judged = self.passed + self.failed
        return self.passed / judged if judged else None

    @property
    def cost_per_image(self) -> Decimal | None:
        return self.cost_usd / self.attempts if self.attempts else None


@dataclass
class RowView:
    prompt: str
    seed: int
    cells: list[CellView]


def comparison_grid(comparison) -> list[RowView]:  # type: ignore[no-untyped-def]
    """Rows of (prompt, seed), one cell per engine, each with its best attempt and, once every
    render has settled, its pixel difference from the row's first engine. (Differences decode
    two images each; the page polls every second while renders run, so they wait until then.)"""
    cells = comparison.cells.select_related("engine", "job").prefetch_related(
        "job__attempts__verification", "job__attempts__engine"
    )
    rows: dict[tuple[int, int], RowView] = {}
    for cell in cells:
        key = (cell.prompt_index, cell.seed)
        row = rows.setdefault(key, RowView(prompt=comparison.prompts[cell.prompt_index], seed=cell.seed, cells=[]))
        own = cell_attempt(cell)
        later = sum(1 for a in cell.job.attempts.all() if own is not None and a.number > own.number)
        row.cells.append(CellView(cell.pk, cell.engine, cell.job.status, own, later, None))
    if any(view.job_status not in SETTLED_STATUSES for row in rows.values() for view in row.cells):
        return list(rows.values())
    for row in rows.values():
        # Every cell of a row holds the same prompt and seed (cell_attempt checks the seed).
        first = row.cells[0].attempt if row.cells else None
        for view in row.cells[1:]:
            if first is not None and first.image and view.attempt is not None and view.attempt.image:
                view.difference = image_difference(first, view.attempt)
    return list(rows.values())


def comparison_summary(rows: list[RowView]) -> list[EngineSummary]:
    """Per engine, over its own cells: pass rate, engine-call p50/p95 (ms), cost per image."""
    by_engine: dict[int, list[CellView]] = {}
    for row in rows:
        for view in row.cells:
            by_engine.setdefault(view.engine.pk, []).append(view)
    summaries = []
    for views in by_engine.values():
        own = [v.attempt for v in views if v.attempt is not None]
        verdicts = [v.verdict for v in views]
        summaries.append(
            EngineSummary(
                engine=views[0].engine,
                attempts=len(own),
                passed=verdicts.count("pass"),
                failed=sum(verdicts.count(k) for k in ("fail", "review", "error")),
                engine_ms=percentiles([float(a.timings_ms["engine"]) for a in own if "engine" in (a.timings_ms or {})]),
                cost_usd=sum((a.cost_usd for a in own), start=Decimal("0")),
            )
        )
    return sorted(summaries, key=lambda s: s.engine.slug)
