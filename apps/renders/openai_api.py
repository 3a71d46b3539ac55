"""OpenAI-compatible facade, so the official SDKs and common clients can point their base URL
at RenderHub (`base_url="https://renderhub.example/v1"`, the API token as the key).

Endpoints: `POST /v1/images/generations`, `GET /v1/models`, `GET /v1/models/<id>`, and
`GET /v1/images/files/<signed>` (the `response_format="url"` images: no header needed, signed
with django.core.signing per image, valid URL_MAX_AGE_S). Every other `/v1/` path, every wrong
method and every error answers in OpenAI's envelope `{"error": {"message", "type", "param",
"code"}}` (research/engines.md §1.3), so the SDK raises its typed exception with the message.

Request fields (OpenAI's `CreateImageRequest`, research/engines.md §1.1), all checked before
anything renders; a value RenderHub cannot honour is a 400 naming the param, never replaced:
- `model`: an engine slug or a tier slug (GET /v1/models lists them); default "production".
- `prompt` (required, ≤ MAX_PROMPT_CHARS), `n` (1–MAX_N), `seed` (RenderHub's extension:
  image i gets seed + i, all within 0 … 2^31-1).
- `size`: "WxH" within the configured limits, or "auto" (OpenAI's default for GPT image
  models) = AUTO_SIZE. The answer's top-level `size` is the size of the images returned.
- `quality`: "auto" (the model's configured quality) or exactly the quality the model's tier
  renders at; `background`: "auto" | "opaque" (no engine here draws transparency);
  `output_format` png | jpeg | webp (converted with Pillow when the engine drew another
  format), `output_compression` 0–100 for jpeg/webp; `moderation`: "auto"; `style`: refused;
  `stream`: only false (no streaming); `user`: accepted (a string), not stored.
- `response_format`: b64_json (default) | url.

Outcomes, chosen so that the SDK's automatic retries (408, 409, 429, ≥ 500) happen only when
a retry can change the outcome (research/engines.md §1.3):
- delivered → 200 with every image asked for (never fewer);
- engine refused the prompt → 400 `content_policy_violation`;
- the budget cannot hold it → 403 `insufficient_quota` (no job is left behind);
- the queue is too busy now → 429 `rate_limit_exceeded` with Retry-After (no job left behind);
- failed verification, waiting for a moderator or rejected → 422 `needs_review`;
- engine failure → 502 `server_error` with `x-should-retry: false` (a repeat replays it);
- not finished within WAIT_S (under gunicorn's 30 s timeout) → 504 `render_pending` with
  Retry-After: the SDK's retry is recognised (idempotency.py) and waits on the same jobs, so
  a slow render costs one job however often it is retried. Its images stay billed and
  reachable through the job URLs named in the message (or by sending the request again with
  the same Idempotency-Key within 24 h).
"""

import base64
import io
import logging
import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import wraps
from typing import Any

from django.conf import settings
from django.core import signing
from django.db import transaction
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.csrf import csrf_exempt
from PIL import Image

from apps.accounts.services import TokenExpired, api_token_authenticate
from apps.core.errors import database_busy
from apps.core.json_body import BodyError, read_json_body
from apps.engines.models import AdapterKind, Engine
from apps.policy import services as policy
from apps.policy.models import Tier
from apps.renders import idempotency, selectors
from apps.renders.api import job_url
from apps.renders.models import SETTLED_STATUSES, JobStatus, RenderAttempt, RenderJob
from apps.renders.pipeline.submit import MAX_SEED, SubmissionError, job_submit, parse_size

MAX_N = 4
MAX_PROMPT_CHARS = 32000  # gpt-image's limit (research/engines.md §1.1)
AUTO_SIZE = (1024, 1024)
URL_MAX_AGE_S = 3600  # OpenAI's image URLs are valid 60 minutes
URL_SALT = "renderhub.openai.image-url"
log = logging.getLogger(__name__)
WAIT_POLL_S = 0.05
FORMATS = {"png": ("PNG", "image/png"), "jpeg": ("JPEG", "image/jpeg"), "webp": ("WEBP", "image/webp")}
FIELDS = {
    "model",
    "prompt",
    "n",
    "size",
    "quality",
    "response_format",
    "output_format",
    "output_compression",
    "background",
    "moderation",
    "style",
    "stream",
    "partial_images",
    "user",
    "seed",
}


class OpenAIError(Exception):
    """An answer in OpenAI's error envelope."""

    def __init__(
        self,
        status: int,
        message: str,
        *,
        param: str | None = None,
        code: str | None = None,
        type_: str = "invalid_request_error",
        headers: dict[str, str] | None = None,
    ):
        super().__init__(message)
        self.status, self.message, self.param, self.code, self.type = status, message, param, code, type_
        self.headers = headers or {}

    def body(self) -> dict[str, Any]:
        return {"error": {"message": self.message, "type": self.type, "param": self.param, "code": self.code}}

    def response(self) -> JsonResponse:
        response = JsonResponse(self.body(), status=self.status)
        for name, value in self.headers.items():
            response[name] = value
        return response


def _stored(status: int, body: dict[str, Any]) -> JsonResponse:
    response = JsonResponse(body, status=status)
    response["x-should-retry"] = "false"
    return response


def openai_view(
    *methods: str, auth: bool = True
) -> Callable[[Callable[..., HttpResponse]], Callable[..., HttpResponse]]:
    """The method check (405), bearer-token authentication (401/403) and OpenAI-shaped errors."""

    def decorate(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
        @csrf_exempt
        @wraps(view)
        def wrapped(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
            try:
                if request.method not in methods:
                    raise OpenAIError(
                        405,
                        f"{request.method} is not allowed on {request.path}; use {' or '.join(methods)}.",
                        code="method_not_allowed",
                        headers={"Allow": ", ".join(methods)},
                    )
                if auth:
                    request.user = _authenticate(request)
                return view(request, *args, **kwargs)
            except OpenAIError as exc:
                return exc.response()
            except Exception as exc:  # still OpenAI's shape, so the SDK says what happened
                if database_busy(exc):
                    raise  # DatabaseBusyMiddleware: a 503 in OpenAI's shape, which the SDK retries
                log.exception("OpenAI facade: %s %s failed", request.method, request.path)
                return OpenAIError(500, "RenderHub failed to answer this request.", type_="server_error").response()

        return wrapped

    return decorate


def _authenticate(request: HttpRequest) -> Any:
    scheme, _, key = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not key.strip():
        raise OpenAIError(
            401,
            "You didn't provide an API key. Send your RenderHub token as the API key (Authorization: Bearer <token>).",
            code="invalid_api_key",
            headers={"WWW-Authenticate": 'Bearer realm="renderhub"'},
        )
    try:
        user = api_token_authenticate(key=key.strip())
    except TokenExpired as exc:
        raise OpenAIError(
            401, str(exc), code="invalid_api_key", headers={"WWW-Authenticate": 'Bearer realm="renderhub"'}
        ) from None
    if user is None:
        raise OpenAIError(
            401,
            "Incorrect API key provided: this RenderHub token is unknown or revoked.",
            code="invalid_api_key",
            headers={"WWW-Authenticate": 'Bearer realm="renderhub"'},
        )
    if not user.has_perm("renders.submit_render"):
        raise OpenAIError(403, "This account may not use the render API.", type_="permission_error")
    return user


# --- Request ------------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class GenerationRequest:
    prompt: str
    n: int
    width: int
    height: int
    seed: int | None
    engine: Engine | None
    tier: Tier | None
    output_format: str
    output_compression: int | None
    response_format: str


def _bad(message: str, param: str | None, code: str | None = "invalid_value") -> OpenAIError:
    return OpenAIError(400, message, param=param, code=code)


def _text(value: object, param: str) -> str:
    """A string without NUL or lone surrogates (neither can be stored)."""
    if not isinstance(value, str):
        raise _bad(f"{param} must be a string.", param, "invalid_type")
    if "\x00" in value:
        raise _bad(f"{param} must not contain NUL characters.", param)
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise _bad(f"{param} must be valid Unicode text (it has a lone surrogate).", param) from None
    return value


def _integer(value: object, param: str, low: int, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise _bad(f"{param} must be an integer.", param, "invalid_type")
    if not low <= value <= high:
        raise _bad(f"{param} must be between {low} and {high} (got {value}).", param)
    return value


def _choice(data: dict[str, Any], param: str, allowed: tuple[str, ...], default: str) -> str:
    value = data.get(param)
    if value is None:
        return default
    if value not in allowed:
        raise _bad(
            f"{param}={value!r} is not supported by RenderHub; supported: {', '.join(map(repr, allowed))}.", param
        )
    return str(value)


def _model(data: dict[str, Any]) -> tuple[Engine | None, Tier | None]:
    name = _text(data.get("model") or "production", "model")
    engine = Engine.objects.filter(slug=name, enabled=True).first()
    if engine is not None and engine.is_retired(timezone.localdate()):
        raise OpenAIError(404, engine.retirement_message, param="model", code="model_not_found")
    tier = None if engine else Tier.objects.filter(slug=name).first()
    if engine is None and tier is None:
        raise OpenAIError(
            404,
            f"The model {name!r} does not exist on RenderHub: use an engine or tier slug (GET /v1/models lists them).",
            param="model",
            code="model_not_found",
        )
    return engine, tier


def _size(value: object) -> tuple[int, int]:
    if value is None or value == "auto":
        return AUTO_SIZE
    if not isinstance(value, str):
        raise _bad('size must be a string like "1024x1024" or "auto".', "size", "invalid_type")
    try:
        return parse_size(value)
    except ValueError as exc:
        raise _bad(f"{exc} Or send size='auto'.", "size") from None


def generation_parse(data: object) -> GenerationRequest:
    """Check every field of an images.generate body; OpenAIError(400/404) names the first problem."""
    if not isinstance(data, dict):
        raise _bad("The body must be a JSON object.", None, "invalid_type")
    unknown = sorted(set(data) - FIELDS)
    if unknown:
        raise _bad(f"Unrecognized request argument supplied: {', '.join(unknown)}", unknown[0], "unknown_parameter")
    if data.get("stream"):
        raise _bad(
            "stream=true is not supported by RenderHub: call without streaming.", "stream", "unsupported_parameter"
        )
    if data.get("partial_images"):
        raise _bad("partial_images needs streaming, which RenderHub does not support.", "partial_images")
    if data.get("style") is not None:
        raise _bad("style is a dall-e-3 parameter that RenderHub does not support.", "style", "unsupported_parameter")
    if "prompt" not in data:
        raise _bad("prompt is required.", "prompt", "missing_required_parameter")
    prompt = _text(data["prompt"], "prompt")
    if not prompt.strip():
        raise _bad("prompt must not be empty.", "prompt")
    if len(prompt) > MAX_PROMPT_CHARS:
        raise _bad(f"prompt is {len(prompt)} characters; the maximum is {MAX_PROMPT_CHARS}.", "prompt")
    n = 1 if data.get("n") is None else _integer(data["n"], "n", 1, MAX_N)
    seed = None
    if data.get("seed") is not None:
        seed = _integer(data["seed"], "seed", 0, MAX_SEED - (n - 1))
    if data.get("user") is not None:
        _text(data["user"], "user")
    response_format = _choice(data, "response_format", ("b64_json", "url"), "b64_json")
    output_format = _choice(data, "output_format", tuple(FORMATS), "png")
    compression = None
    if data.get("output_compression") is not None:
        compression = _integer(data["output_compression"], "output_compression", 0, 100)
        if output_format == "png":
            raise _bad("output_compression applies to jpeg and webp only.", "output_compression")
    _choice(data, "background", ("auto", "opaque"), "auto")
    _choice(data, "moderation", ("auto",), "auto")
    width, height = _size(data.get("size"))
    engine, tier = _model(data)
    routed = tier or policy.tier_for_asset_class(asset_class="editorial")
    qualities = ("auto", routed.quality) if routed is not None and routed.quality else ("auto",)
    _choice(data, "quality", qualities, "auto")
    return GenerationRequest(
        prompt=prompt,
        n=n,
        width=width,
        height=height,
        seed=seed,
        engine=engine,
        tier=tier,
        output_format=output_format,
        output_compression=compression,
        response_format=response_format,
    )


def _json_body(request: HttpRequest) -> object:
    """The body through apps.core.json_body (size, depth, integer digits, NUL, surrogates, NaN)."""
    try:
        return read_json_body(request, require_content_type=False)
    except BodyError as exc:
        if exc.status == 413:
            raise OpenAIError(413, "The request body is too large.", code="request_too_large") from None
        raise _bad(
            f"We could not parse the JSON body of your request: {exc.message}", exc.field, "invalid_json"
        ) from None


# --- Submission ---------------------------------------------------------------------------


class _NotAdmitted(Exception):
    def __init__(self, job: RenderJob):
        super().__init__(job.status_reason)
        self.job = job


def _not_admitted_error(job: RenderJob) -> OpenAIError:
    """A budget that cannot hold the render now will not hold it on a retry either (403); a
    busy queue may drain (429 with Retry-After, which the SDK honours up to 120 s)."""
    reason = job.status_reason or job.admission_reason
    now = timezone.now()
    if job.status == JobStatus.DEFERRED and job.defer_until and job.defer_until < policy.budget_reset_at(now=now):
        wait_s = max(1, math.ceil((job.defer_until - now).total_seconds()))
        return OpenAIError(
            429,
            f"Not admitted now: {reason} Nothing was queued; send the request again later.",
            code="rate_limit_exceeded",
            type_="requests",
            headers={"Retry-After": str(wait_s)},
        )
    return OpenAIError(
        403,
        f"Not admitted: {reason} Nothing was queued or charged.",
        code="insufficient_quota",
        type_="insufficient_quota",
        headers={"x-should-retry": "false"},
    )


def _submit(request: HttpRequest, params: GenerationRequest) -> list[RenderJob]:
    """All `n` jobs or none: a job that is not admitted rolls back the others (and their holds)."""
    with transaction.atomic():
        jobs = []
        for i in range(params.n):
            job = job_submit(
                submitted_by=request.user,
                prompt=params.prompt,
                tier=params.tier,
                engine=params.engine,
                asset_class="" if params.tier else "editorial",
                seed=None if params.seed is None else params.seed + i,
                width=params.width,
                height=params.height,
                source="api",
                with_preview=False,
            )
            if job.status in (JobStatus.REFUSED, JobStatus.DEFERRED):
                raise _NotAdmitted(job)
            jobs.append(job)
    return jobs


@openai_view("POST")
def images_generations(request: HttpRequest) -> HttpResponse:
    """POST /v1/images/generations: validate, create the jobs once, wait, answer."""
    params = generation_parse(_json_body(request))
    try:
        keys = idempotency.request_keys(request)
    except idempotency.BadKey as exc:
        raise _bad(str(exc), None) from None
    with transaction.atomic():
        try:
            claim = idempotency.request_claim(
                user=request.user, scope=request.path, key=keys.key, body=request.body, retry_count=keys.retry_count
            )
        except idempotency.KeyReused as exc:
            raise OpenAIError(422, str(exc), code="idempotency_key_reused") from None
        if claim.in_progress:
            raise OpenAIError(
                409, "A request with this Idempotency-Key is still being processed.", headers={"Retry-After": "1"}
            )
        if claim.replay and claim.record is not None and claim.record.answer is not None:
            return _stored(claim.record.answer_status or 400, claim.record.answer)
        jobs = claim.jobs() if claim.replay else []
        if not jobs:  # a new request (or one whose jobs were deleted since)
            try:
                jobs = _submit(request, params)
            except SubmissionError as exc:
                field, message = next(iter(exc.errors.items()))
                raise _bad(f"{field}: {message}", field) from None  # rolls the claim back too
            except _NotAdmitted as exc:
                error = _not_admitted_error(exc.job)
                if error.status == 429:
                    idempotency.claim_release(claim)
                else:
                    idempotency.claim_store(claim, status=error.status, answer=error.body())
                return error.response()
            idempotency.claim_bind(claim, jobs=jobs)
    return _answer(request, params, jobs)


def _wait(jobs: list[RenderJob], budget_s: float) -> list[RenderJob]:
    deadline = time.monotonic() + budget_s
    pks = [job.pk for job in jobs]
    while time.monotonic() < deadline:
        statuses = dict(RenderJob.objects.filter(pk__in=pks).values_list("pk", "status"))
        if all(statuses.get(pk) in SETTLED_STATUSES for pk in pks):
            break
        time.sleep(WAIT_POLL_S)
    by_pk = RenderJob.objects.select_related("tier").in_bulk(pks)
    return [by_pk[pk] for pk in pks]


def _wait_budget_s(request: HttpRequest) -> float:
    """RENDERHUB_OPENAI_WAIT_S, or less when the SDK says it stops reading sooner
    (`x-stainless-read-timeout`, seconds): its own timeout would only turn into a retry."""
    budget = float(settings.RENDERHUB_OPENAI_WAIT_S)
    try:
        client_timeout = float(request.headers.get("x-stainless-read-timeout", ""))
    except ValueError:
        return budget
    if math.isfinite(client_timeout) and client_timeout > 0:
        budget = min(budget, max(0.5, client_timeout - 1))
    return budget


def _answer(request: HttpRequest, params: GenerationRequest, jobs: list[RenderJob]) -> HttpResponse:
    jobs = _wait(jobs, _wait_budget_s(request))
    urls = ", ".join(job_url(request, job) for job in jobs)
    for job in jobs:
        refusal = selectors.job_refused_by_engine(job) if job.status == JobStatus.FAILED else None
        if refusal is not None:
            return _stored(
                400,
                OpenAIError(
                    400,
                    f"Your request was rejected by the safety system of {refusal.engine.name}: {refusal.error}",
                    code="content_policy_violation",
                ).body(),
            )
    failed = [job for job in jobs if job.status == JobStatus.FAILED]
    if failed:
        return _stored(
            502,
            OpenAIError(
                502,
                f"Render {failed[0].public_id} failed: {failed[0].status_reason} ({urls})",
                code="render_failed",
                type_="server_error",
            ).body(),
        )
    held = [job for job in jobs if job.status in (JobStatus.NEEDS_REVIEW, JobStatus.REJECTED)]
    if held:
        return OpenAIError(
            422,
            f"Render {held[0].public_id} is {held[0].get_status_display().lower()}: {held[0].status_reason} "
            f"A moderator decides; the job is at {job_url(request, held[0])}.",
            code="needs_review",
        ).response()
    if any(job.status != JobStatus.DELIVERED for job in jobs):
        return OpenAIError(
            504,
            f"The render is not finished within {_wait_budget_s(request):g} s. Send the same request "
            f"again (an SDK retry or the same Idempotency-Key waits on the same job, nothing new is charged), "
            f"or poll {urls}.",
            code="render_pending",
            type_="server_error",
            headers={"Retry-After": "1", "x-should-retry": "true"},
        ).response()
    data, size = [], ""
    for job in jobs:
        attempt = selectors.job_final_attempt(RenderJob.objects.prefetch_related("attempts").get(pk=job.pk))
        assert attempt is not None, "a delivered job has a final image"
        item: dict[str, Any] = {}
        if params.response_format == "url":
            item["url"] = image_url(request, attempt, params.output_format, params.output_compression)
            with attempt.image.open("rb") as fh, Image.open(fh) as image:
                size = f"{image.width}x{image.height}"
        else:
            encoded, size = image_encode(attempt, params.output_format, params.output_compression)
            item["b64_json"] = base64.b64encode(encoded).decode()
        if isinstance(attempt.sent, dict) and attempt.sent.get("revised_prompt"):
            item["revised_prompt"] = attempt.sent["revised_prompt"]
        data.append(item)
    created = int(min(job.created_at for job in jobs).timestamp())
    return JsonResponse(
        {"created": created, "data": data, "background": "opaque", "output_format": params.output_format, "size": size}
    )


# --- Images -------------------------------------------------------------------------------


def image_encode(attempt: RenderAttempt, output_format: str, compression: int | None) -> tuple[bytes, str]:
    """The attempt's image in `output_format` (converted only when the engine drew another
    format or a compression is asked for) and its size "WxH"."""
    pillow_format, mime = FORMATS[output_format]
    with attempt.image.open("rb") as fh:
        raw = fh.read()
    with Image.open(io.BytesIO(raw)) as image:
        size = f"{image.width}x{image.height}"
        if attempt.image_mime == mime and compression is None:
            return raw, size
        if pillow_format == "JPEG" and image.mode not in ("RGB", "L"):
            image = image.convert("RGB")
        out = io.BytesIO()
        options: dict[str, Any] = {"quality": compression} if compression is not None else {}
        image.save(out, format=pillow_format, **options)
    return out.getvalue(), size


def image_url(request: HttpRequest, attempt: RenderAttempt, output_format: str, compression: int | None) -> str:
    token = signing.dumps({"a": attempt.pk, "f": output_format, "c": compression}, salt=URL_SALT, compress=True)
    return request.build_absolute_uri(reverse("openai-image-file", kwargs={"token": token}))


@openai_view("GET", auth=False)
def image_file(request: HttpRequest, token: str) -> HttpResponse:
    """GET /v1/images/files/<signed>: one image, no header needed while the signature is fresh."""
    try:
        claims = signing.loads(token, salt=URL_SALT, max_age=URL_MAX_AGE_S)
        attempt = RenderAttempt.objects.get(pk=claims["a"], job__status=JobStatus.DELIVERED)
        output_format, compression = str(claims["f"]), claims["c"]
        if output_format not in FORMATS:
            raise ValueError(output_format)
    except (signing.BadSignature, RenderAttempt.DoesNotExist, KeyError, TypeError, ValueError):
        raise OpenAIError(404, "This image URL is invalid or has expired.", code="not_found") from None
    body, _ = image_encode(attempt, output_format, compression)
    response = HttpResponse(body, content_type=FORMATS[output_format][1])
    response["Cache-Control"] = f"private, max-age={URL_MAX_AGE_S}"
    return response


# --- Models and the rest of /v1 -----------------------------------------------------------


def _owner(engine: Engine) -> str:
    """OpenAI's `owned_by`, the one free-text field of a model object: it says what an engine is
    (the null benchmark engine and the built-in simulations are not image models)."""
    if engine.adapter == AdapterKind.NULL:
        return "renderhub-benchmark"
    return "renderhub-simulation" if engine.simulated else "renderhub-engine"


def _model_entries() -> list[dict[str, Any]]:
    entries = [
        {"id": e.slug, "object": "model", "created": int(e.created_at.timestamp()), "owned_by": _owner(e)}
        for e in Engine.objects.filter(enabled=True).order_by("slug")
        if not e.is_retired(timezone.localdate())
    ]
    entries += [
        {"id": t.slug, "object": "model", "created": 0, "owned_by": "renderhub-tier"}
        for t in Tier.objects.order_by("slug")
    ]
    return entries


@openai_view("GET")
def models_list(request: HttpRequest) -> HttpResponse:
    """GET /v1/models: every enabled engine that is not retired, and every tier, usable as `model`."""
    return JsonResponse({"object": "list", "data": _model_entries()})


@openai_view("GET")
def models_detail(request: HttpRequest, model_id: str) -> HttpResponse:
    for entry in _model_entries():
        if entry["id"] == model_id:
            return JsonResponse(entry)
    raise OpenAIError(
        404, f"The model {model_id!r} does not exist on RenderHub.", param="model", code="model_not_found"
    )


@csrf_exempt
def images_unsupported(request: HttpRequest, operation: str) -> HttpResponse:
    """/v1/images/edits and /v1/images/variations: RenderHub only generates."""
    return OpenAIError(
        400,
        f"RenderHub does not support images.{operation}: only /v1/images/generations is available.",
        code="unsupported_endpoint",
    ).response()


@csrf_exempt
def not_found(request: HttpRequest, rest: str = "") -> HttpResponse:
    return OpenAIError(404, f"Invalid URL ({request.method} {request.path})", code="unknown_url").response()
