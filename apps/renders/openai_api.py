"""OpenAI-compatible facade: `POST /v1/images/generations`, so SDK clients can point their
base URL at RenderHub. `model` is an engine slug or a tier slug; errors use OpenAI's envelope.
"""

import base64
import json
import time
from typing import Any

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.http import require_POST

from apps.engines.models import Engine
from apps.policy.models import Tier
from apps.renders import selectors
from apps.renders.api import api_view, job_url, job_wait
from apps.renders.models import JobStatus, RenderJob
from apps.renders.pipeline.submit import SubmissionError, job_submit, parse_size

WAIT_S = 120
MAX_N = 4


def _error(status: int, message: str, param: str | None = None, code: str | None = None) -> JsonResponse:
    return JsonResponse(
        {"error": {"message": message, "type": "invalid_request_error", "param": param, "code": code}}, status=status
    )


@require_POST
@api_view
def images_generations(request: HttpRequest) -> HttpResponse:
    try:
        data: Any = json.loads(request.body or b"null")
    except (json.JSONDecodeError, UnicodeDecodeError):
        return _error(400, "The body is not valid JSON.")
    if not isinstance(data, dict) or not isinstance(data.get("prompt"), str) or not data["prompt"].strip():
        return _error(400, "prompt is required and must be a string.", "prompt")
    n = data.get("n", 1)
    if isinstance(n, bool) or not isinstance(n, int) or not 1 <= n <= MAX_N:
        return _error(400, f"n must be an integer from 1 to {MAX_N}.", "n")
    response_format = data.get("response_format", "b64_json")
    if response_format not in ("b64_json", "url"):
        return _error(400, "response_format must be b64_json or url.", "response_format")
    model = str(data.get("model") or "production")
    engine = Engine.objects.filter(slug=model, enabled=True).first()
    tier = None if engine else Tier.objects.filter(slug=model).first()
    if engine is None and tier is None:
        return _error(
            404, f"The model {model!r} does not exist (use an engine or tier slug).", "model", "model_not_found"
        )
    try:
        size = parse_size(data["size"]) if data.get("size") else None
    except ValueError as exc:
        return _error(400, str(exc), "size")
    seed = data.get("seed")
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int)):
        return _error(400, "seed must be an integer.", "seed")
    jobs = []
    try:
        for i in range(n):
            jobs.append(
                job_submit(
                    submitted_by=request.user,
                    prompt=data["prompt"],
                    tier=tier,
                    engine=engine,
                    asset_class="" if tier else "editorial",
                    seed=None if seed is None else seed + i,
                    width=size[0] if size else None,
                    height=size[1] if size else None,
                    source="api",
                    with_preview=False,
                )
            )
    except SubmissionError as exc:
        field, message = next(iter(exc.errors.items()))
        return _error(400, f"{field}: {message}", field)
    out = []
    for job in jobs:
        job = job_wait(job, WAIT_S)
        if job.status != JobStatus.DELIVERED:
            return _error(
                502 if job.status == JobStatus.FAILED else 429 if job.status == JobStatus.REFUSED else 504,
                f"Render {job.public_id} ended {job.status}: {job.status_reason}",
            )
        if response_format == "url":
            out.append({"url": job_url(request, job) + "/image", "revised_prompt": job.prompt})
        else:
            attempt = selectors.job_final_attempt(RenderJob.objects.get(pk=job.pk))
            assert attempt is not None
            with attempt.image.open("rb") as fh:
                out.append({"b64_json": base64.b64encode(fh.read()).decode(), "revised_prompt": job.prompt})
    return JsonResponse({"created": int(time.time()), "data": out})
