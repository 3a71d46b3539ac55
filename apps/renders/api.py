"""JSON API with bearer tokens.

`POST /api/models/render` and `POST /api/models/<engine>` take {"prompt", "seed", "size"}
(optional template, texts, tier, asset_class) and answer the PNG when the job is done
within the tier's latency budget, else 202 with a Location header and {id, status, url}.
`POST /api/v1/renders` always answers 202; `GET /api/v1/renders/<id>` the job as JSON.
"""

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import wraps
from typing import Any

from django.db import transaction
from django.http import FileResponse, Http404, HttpRequest, HttpResponse, JsonResponse
from django.urls import reverse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_POST
from pydantic import ValidationError

from apps.accounts.services import TokenExpired, api_token_authenticate
from apps.catalog.models import Template
from apps.core.json_body import BodyError, read_json_body
from apps.engines.models import Engine
from apps.policy import services as policy
from apps.policy.models import Tier
from apps.renders import idempotency, selectors
from apps.renders.models import SETTLED_STATUSES, JobStatus, RenderJob
from apps.renders.pipeline.submit import SubmissionError, job_submit, parse_size
from apps.renders.schemas import RenderRequest

WAIT_POLL_S = 0.02


class ApiError(Exception):
    def __init__(self, status: int, message: str, *, field: str | None = None):
        super().__init__(message)
        self.status, self.message, self.field = status, message, field

    def response(self) -> JsonResponse:
        body: dict[str, Any] = {"error": self.message}
        if self.field:
            body["field"] = self.field
        response = JsonResponse(body, status=self.status)
        if self.status == 401:
            response["WWW-Authenticate"] = 'Bearer realm="renderhub"'
        return response


def api_view(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """Bearer-token authentication, the submit permission, and JSON errors."""

    @csrf_exempt
    @wraps(view)
    def wrapped(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        try:
            header = request.headers.get("Authorization", "")
            scheme, _, key = header.partition(" ")
            if scheme.lower() != "bearer" or not key.strip():
                raise ApiError(401, "Send a bearer token: Authorization: Bearer <token>.")
            try:
                user = api_token_authenticate(key=key.strip())
            except TokenExpired as exc:
                raise ApiError(401, str(exc)) from exc
            if user is None:
                raise ApiError(401, "This token is unknown or revoked.")
            if not user.has_perm("renders.submit_render"):
                raise ApiError(403, "This account may not use the render API.")
            request.user = user
            return view(request, *args, **kwargs)
        except ApiError as exc:
            return exc.response()
        except Http404:
            return ApiError(404, "No such render (or it is not yours).").response()

    return wrapped


@dataclass
class RenderPayload:
    prompt: str = ""
    seed: int | None = None
    size: tuple[int, int] | None = None
    template: Template | None = None
    texts: dict[str, str] = field(default_factory=dict)
    tier: Tier | None = None
    asset_class: str = ""


def _first_error(exc: ValidationError) -> ApiError:
    """The first problem pydantic found, as a 400 naming the field (dotted for nested ones)."""
    error = exc.errors(include_url=False)[0]
    place = ".".join(str(part) for part in error["loc"] if part != "[key]")
    if error["type"] == "extra_forbidden":
        return ApiError(400, f"Unknown field {place!r}.", field=place)
    return ApiError(400, f"{place}: {error['msg']}.", field=place or None)


def parse_payload(request: HttpRequest) -> RenderPayload:
    """The body as a RenderRequest (schemas.py), then the names it gives looked up.

    Raises ApiError: 415/413/400 for an unusable body (apps.core.json_body), 400 naming the
    first bad field, an unknown template, tier or asset class, or a missing prompt."""
    try:
        data = read_json_body(request)
    except BodyError as exc:
        raise ApiError(exc.status, exc.message, field=exc.field) from exc
    if not isinstance(data, dict):
        raise ApiError(400, "The body must be a JSON object.")
    try:
        body = RenderRequest.model_validate(data)
    except ValidationError as exc:
        raise _first_error(exc) from exc
    out = RenderPayload(prompt=body.prompt, seed=body.seed, texts=body.texts, asset_class=body.asset_class)
    if body.size is not None:
        try:
            out.size = parse_size(body.size)
        except ValueError as exc:
            raise ApiError(400, str(exc), field="size") from exc
    if body.template is not None:
        out.template = Template.objects.filter(slug=body.template, is_active=True).first()
        if out.template is None:
            raise ApiError(400, f"Unknown template {body.template!r}.", field="template")
    if body.tier is not None:
        out.tier = Tier.objects.filter(slug=body.tier).first()
        if out.tier is None:
            raise ApiError(400, f"Unknown tier {body.tier!r}.", field="tier")
    if body.asset_class and policy.asset_class_get(slug=body.asset_class) is None:
        raise ApiError(400, f"Unknown asset class {body.asset_class!r}.", field="asset_class")
    if out.template is None and not out.prompt.strip():
        raise ApiError(400, "prompt is required (or name a template with its texts).", field="prompt")
    return out


def _submit(request: HttpRequest, payload: RenderPayload, *, engine: Engine | None, with_preview: bool) -> RenderJob:
    try:
        return job_submit(
            submitted_by=request.user,
            tier=payload.tier,
            asset_class=payload.asset_class,
            template=payload.template,
            texts=payload.texts,
            prompt=payload.prompt,
            seed=payload.seed,
            width=payload.size[0] if payload.size else None,
            height=payload.size[1] if payload.size else None,
            engine=engine,
            source="api",
            with_preview=with_preview,
        )
    except SubmissionError as exc:
        name, message = next(iter(exc.errors.items()))
        raise ApiError(400, f"{name}: {message}", field=name) from exc


def _submit_once(
    request: HttpRequest, payload: RenderPayload, *, engine: Engine | None, with_preview: bool
) -> RenderJob:
    """`_submit` at most once per Idempotency-Key (apps/renders/idempotency.py): a repeat with
    the same body gets the first request's job, another body 422."""
    try:
        keys = idempotency.request_keys(request)
        with transaction.atomic():
            claim = idempotency.request_claim(
                user=request.user, scope=request.path, key=keys.key, body=request.body, retry_count=keys.retry_count
            )
            if claim.in_progress:
                raise ApiError(409, "A request with this Idempotency-Key is still being processed; retry shortly.")
            if claim.replay and claim.jobs():
                return claim.jobs()[0]
            job = _submit(request, payload, engine=engine, with_preview=with_preview)
            idempotency.claim_bind(claim, jobs=[job])
            return job
    except idempotency.BadKey as exc:
        raise ApiError(400, str(exc), field="Idempotency-Key") from exc
    except idempotency.KeyReused as exc:
        raise ApiError(422, str(exc), field="Idempotency-Key") from exc


def job_url(request: HttpRequest, job: RenderJob) -> str:
    return request.build_absolute_uri(reverse("api:render-detail", kwargs={"public_id": job.public_id}))


def accepted(request: HttpRequest, job: RenderJob) -> JsonResponse:
    url = job_url(request, job)
    body = {"id": str(job.public_id), "status": job.status, "url": url}
    if job.status == JobStatus.DEFERRED:
        body["defer_until"] = job.defer_until.isoformat() if job.defer_until else None
        body["reason"] = job.status_reason
    response = JsonResponse(body, status=202)
    response["Location"] = url
    return response


def job_wait(job: RenderJob, budget_s: float) -> RenderJob:
    """Wait up to `budget_s` for the job to settle (delivered, review, failed …), then reload it."""
    deadline = time.monotonic() + budget_s
    while job.status not in SETTLED_STATUSES and time.monotonic() < deadline:
        time.sleep(WAIT_POLL_S)
        job.status = RenderJob.objects.filter(pk=job.pk).values_list("status", flat=True).get()
    job.refresh_from_db()
    return job


def _answer_image_or_accepted(request: HttpRequest, job: RenderJob) -> HttpResponse:
    job = job_wait(job, job.tier.max_latency_ms / 1000)
    if job.status == JobStatus.REFUSED:  # the budget: sending it again cannot change that (so no 429)
        return JsonResponse({"id": str(job.public_id), "status": job.status, "error": job.status_reason}, status=403)
    if job.status == JobStatus.FAILED and selectors.job_refused_by_engine(job):  # content: nor that
        return JsonResponse({"id": str(job.public_id), "status": job.status, "error": job.status_reason}, status=422)
    if job.status == JobStatus.FAILED:
        return JsonResponse(
            {"id": str(job.public_id), "status": job.status, "error": job.status_reason, "url": job_url(request, job)},
            status=502,
        )
    if job.status != JobStatus.DELIVERED:
        return accepted(request, job)
    attempt = selectors.job_final_attempt(job)
    assert attempt is not None
    response = FileResponse(attempt.image.open("rb"), content_type=attempt.image_mime or "image/png")
    response["X-RenderHub-Job"] = str(job.public_id)
    response["X-Seed"] = str(attempt.seed)
    response["Location"] = job_url(request, job)
    return response


@require_POST
@api_view
def models_render(request: HttpRequest) -> HttpResponse:
    """Tier routing; the PNG if done within the tier's budget, else 202."""
    job = _submit_once(request, parse_payload(request), engine=None, with_preview=False)
    return _answer_image_or_accepted(request, job)


@require_POST
@api_view
def models_engine(request: HttpRequest, engine_slug: str) -> HttpResponse:
    """One named engine; the PNG if done within the tier's budget, else 202."""
    engine = Engine.objects.filter(slug=engine_slug, enabled=True).first()
    if engine is None:
        return ApiError(404, f"Unknown or disabled engine {engine_slug!r}.", field="engine").response()
    job = _submit_once(request, parse_payload(request), engine=engine, with_preview=False)
    return _answer_image_or_accepted(request, job)


@require_POST
@api_view
def renders_create(request: HttpRequest) -> HttpResponse:
    job = _submit_once(request, parse_payload(request), engine=None, with_preview=True)
    return accepted(request, job)


def job_as_json(request: HttpRequest, job: RenderJob) -> dict[str, Any]:
    best = selectors.job_best_attempt(job)
    return {
        "id": str(job.public_id),
        "status": job.status,
        "status_reason": job.status_reason,
        "admission": {
            "outcome": job.admission,
            "reason": job.admission_reason,
            "defer_until": job.defer_until.isoformat() if job.defer_until else None,
        },
        "tier": job.tier.slug,
        "asset_class": job.asset_class,
        "template": job.template.slug if job.template else None,
        "prompt": job.prompt,
        "texts": job.texts,
        # Set when the gate does not check this job: "not verified: no expected text" or
        # "not verified: verification is off for this tier"; null when it does.
        "verification_note": job.unverified_reason or None,
        "seed": job.seed,
        "size": f"{job.width}x{job.height}",
        "estimated_cost_usd": str(job.estimated_cost_usd),
        "actual_cost_usd": str(job.actual_cost_usd),
        "price_unknown": selectors.job_price_unknown(job),
        "fallbacks": [f.as_json() for f in selectors.job_fallbacks(job)],
        "created_at": job.created_at.isoformat(),
        "finished_at": job.finished_at.isoformat() if job.finished_at else None,
        "attempts": [
            {
                "number": a.number,
                "stage": a.stage,
                "engine": a.engine.slug,
                # An attempt accepted without a gate verdict never reads "passed".
                "status": "not_verified" if a.unverified_reason else a.status,
                "step": a.step,
                "guidance": a.guidance,
                "reason": a.reason,
                "seed": a.seed,
                "seed_honoured": a.seed_honoured,
                "timings_ms": a.timings_ms,
                "cost_usd": str(a.cost_usd),
                "price_source": a.price_source or None,
                "error_kind": a.error_kind or None,
                "error": a.error or None,
                # The template's adapter and what became of it: use is "applied", "unsupported"
                # (the engine cannot use adapters: not applied) or "off"; null without one.
                "adapter": (
                    {"slug": a.adapter.slug, "use": a.adapter_use, "strength": a.adapter_strength}
                    if a.adapter is not None
                    else None
                ),
                "verification": (
                    {"verdict": a.verification.verdict, "reasons": a.verification.reasons}
                    if a.verification
                    else {"verdict": "not_verified", "reasons": [a.unverified_reason]}
                    if a.unverified_reason
                    else None
                ),
            }
            for a in job.attempts.all()
        ],
        "image_url": (
            request.build_absolute_uri(reverse("api:render-image", kwargs={"public_id": job.public_id}))
            if best
            else None
        ),
    }


@require_GET
@api_view
def renders_detail(request: HttpRequest, public_id: str) -> HttpResponse:
    job = selectors.job_for_user(user=request.user, public_id=public_id)
    return JsonResponse(job_as_json(request, job))


@require_GET
@api_view
def renders_image(request: HttpRequest, public_id: str) -> HttpResponse:
    job = selectors.job_for_user(user=request.user, public_id=public_id)
    best = selectors.job_best_attempt(job)
    if best is None:
        return ApiError(404, "This render has no image yet.").response()
    return FileResponse(best.image.open("rb"), content_type=best.image_mime or "image/png")
