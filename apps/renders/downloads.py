"""Small cached thumbnails of renders and zip downloads of several jobs with a manifest."""

import io
import json
import zipfile
from decimal import Decimal

from django.core.files.base import ContentFile
from django.core.files.storage import default_storage

from apps.core.images import load_image
from apps.renders.models import RenderAttempt, RenderJob
from apps.renders.selectors import job_best_attempt

THUMB_WIDTH = 160
MAX_ZIP_JOBS = 50


def thumbnail(attempt: RenderAttempt, *, width: int = THUMB_WIDTH) -> bytes:
    """A WebP of the attempt's image `width` px wide (aspect kept), made once and stored
    beside the renders (`thumbs/<attempt pk>-<width>.webp`). Raises ValueError when the
    attempt has no image or it cannot be decoded."""
    if not attempt.image:
        raise ValueError("This attempt has no image.")
    name = f"thumbs/{attempt.pk}-{width}.webp"
    if default_storage.exists(name):
        with default_storage.open(name, "rb") as fh:
            return fh.read()
    with attempt.image.open("rb") as fh:
        img = load_image(fh.read(), alpha="keep")  # oriented, 8-bit, first frame; ImageLoadError
    img.thumbnail((width, width * 4))
    out = io.BytesIO()
    img.save(out, format="WEBP", quality=80)
    default_storage.save(name, ContentFile(out.getvalue()))
    return out.getvalue()


def jobs_zip(jobs: list[RenderJob]) -> bytes:
    """A zip of each job's best image (its final, else its preview) and `manifest.jsonl`, one
    line per job: id, created, template, texts, seed, size, tier, engine, status, verdict,
    cost (US$) and the image's file name (null when the job has no image yet). The seed and
    engine are those of the image in the zip (an escalation may re-render at a new seed), the
    job's seed when there is no image.
    `jobs` with their attempts prefetched (engine, verification)."""
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_STORED) as archive:  # images are compressed already
        lines = []
        for job in jobs:
            attempt = job_best_attempt(job)
            name = None
            if attempt is not None:
                extension = {"image/jpeg": "jpg", "image/webp": "webp"}.get(attempt.image_mime, "png")
                name = f"{job.public_id}-{attempt.stage}.{extension}"
                with attempt.image.open("rb") as fh:
                    archive.writestr(name, fh.read())
            lines.append(
                {
                    "id": str(job.public_id),
                    "created": job.created_at.isoformat(),
                    "template": job.template.slug if job.template else None,
                    "texts": job.texts,
                    "seed": attempt.seed if attempt else job.seed,
                    "size": f"{job.width}x{job.height}",
                    "tier": job.tier.slug,
                    "engine": attempt.engine.slug if attempt else None,
                    "status": job.status,
                    "verdict": _verdict(attempt),
                    "cost_usd": str(sum((a.cost_usd for a in job.attempts.all()), start=Decimal("0"))),
                    "image": name,
                }
            )
        archive.writestr("manifest.jsonl", "".join(json.dumps(line, ensure_ascii=False) + "\n" for line in lines))
    return out.getvalue()


def _verdict(attempt: RenderAttempt | None) -> str | None:
    """The gate's verdict, "not_verified" for an image accepted with nothing to check, None
    while there is no image or no verdict yet."""
    if attempt is None:
        return None
    if attempt.verification is not None:
        return attempt.verification.verdict
    return "not_verified" if attempt.unverified_reason else None
