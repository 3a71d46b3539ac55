"""Side-by-side comparisons: the same prompts and seeds on several engines."""

import io
from dataclasses import dataclass

from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction
from PIL import Image, ImageChops, ImageOps, ImageStat

from apps.engines.models import Engine
from apps.policy.models import Tier
from apps.renders.models import SETTLED_STATUSES, RenderAttempt
from apps.renders.pipeline.submit import SubmissionError, job_submit
from apps.renders.selectors import job_best_attempt

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
        img = Image.open(io.BytesIO(fh.read()), formats=["PNG", "JPEG", "WEBP"]).convert("RGB")
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


@dataclass
class CellView:
    cell_id: int
    engine: Engine
    job_status: str
    attempt: RenderAttempt | None
    difference: float | None


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
        row.cells.append(CellView(cell.pk, cell.engine, cell.job.status, job_best_attempt(cell.job), None))
    if any(view.job_status not in SETTLED_STATUSES for row in rows.values() for view in row.cells):
        return list(rows.values())
    for row in rows.values():
        first = row.cells[0].attempt if row.cells else None
        for view in row.cells[1:]:
            if first is not None and view.attempt is not None:
                view.difference = image_difference(first, view.attempt)
    return list(rows.values())
