"""Google Imagen through `:predict` (research/engines.md §2), on either backend.

params["api"] = "vertex" (the seeded default; also chosen when no api is set and the base
URL is a Vertex one): base_url is
`https://{LOCATION}-aiplatform.googleapis.com/v1/projects/{P}/locations/{L}` and the call is
`POST {base}/publishers/google/models/{model}:predict` with `Authorization: Bearer <token>`
(the env var holds an OAuth access token). params["api"] = "gemini":
`POST {base}/v1beta/models/{model}:predict` with `x-goog-api-key`; Google turned the Gemini
API's Imagen endpoints off in 2026 (research §0), so such engines are seeded retired.

Parameters are sent only to models that document them (`MODELS`, from the Vertex Imagen API
reference, docs.cloud.google.com/vertex-ai/generative-ai/docs/model-reference/imagen-api, and
research §2.2): `negativePrompt` only to Imagen 3.0 `-001` models on Vertex ("not supported by
imagen-3.0-generate-002 and newer"); `seed` only on Vertex, always with `addWatermark: false`
(Vertex refuses a seed with the watermark on); `enhancePrompt` only to models that have it;
`sampleImageSize` only to Imagen 4 Standard and Ultra. A model not in the table gets none of
these. The Gemini API takes none of seed, watermark, enhancePrompt, negativePrompt.

Aspect ratios 1:1, 3:4, 4:3, 9:16, 16:9 (1K sizes below). Refusals are read from Google's
structured fields first (`error.details[]` reasons and metadata naming safety / RAI / blocked
content, `raiFilteredReason` on predictions, an image-less 200), the message second
(`REFUSAL_PHRASES`). 404 is a retired or unknown model; 401/403 a bad credential. Google's
`google.rpc.RetryInfo.retryDelay` in a 429 body is honoured like Retry-After (transport).
Billing: one image at the aspect ratio and `sampleImageSize` ("1K" when not sent) sent;
Imagen answers carry no usage, so it is priced from the table (research §2.5).
"""

import re
from dataclasses import dataclass
from typing import Any

from apps.engines import sizes, transport
from apps.engines.adapters.base import HttpAdapter
from apps.engines.types import (
    BadResponseError,
    Billing,
    EngineRequest,
    EngineResult,
    MisconfiguredError,
    RefusedError,
)

ASPECTS = [
    sizes.ratio_option("1:1", 1024, 1024),
    sizes.ratio_option("3:4", 896, 1280),
    sizes.ratio_option("4:3", 1280, 896),
    sizes.ratio_option("9:16", 768, 1408),
    sizes.ratio_option("16:9", 1408, 768),
]
SEED_MAX = 2**32 - 1


@dataclass(frozen=True, kw_only=True)
class ImagenModel:
    """What a model documents on Vertex (the Gemini API takes none of these)."""

    negative_prompt: bool = False
    seed: bool = False
    enhance_prompt: bool = False
    sample_image_size: bool = False


MODELS: dict[str, ImagenModel] = {
    "imagen-3.0-generate-001": ImagenModel(negative_prompt=True, seed=True),
    "imagen-3.0-fast-generate-001": ImagenModel(negative_prompt=True, seed=True),
    "imagen-3.0-generate-002": ImagenModel(seed=True, enhance_prompt=True),
    "imagen-4.0-generate-001": ImagenModel(seed=True, enhance_prompt=True, sample_image_size=True),
    "imagen-4.0-ultra-generate-001": ImagenModel(seed=True, enhance_prompt=True, sample_image_size=True),
    "imagen-4.0-fast-generate-001": ImagenModel(seed=True, enhance_prompt=True),
}
UNKNOWN_MODEL = ImagenModel()
# Tokens in Google's structured fields (ErrorInfo.reason, metadata) that mean a safety block.
# Not "BLOCKED": Google's key restrictions answer 403 with reasons such as
# API_KEY_SERVICE_BLOCKED, which are misconfiguration, not a content refusal.
REFUSAL_MARKERS = {"SAFETY", "RAI", "PROHIBITED", "BLOCKLIST", "CSAM", "SPII"}
REFUSAL_PHRASES = (
    "responsible ai",
    "sensitive words",
    "usage guidelines",
    "were filtered out",
    "safety filter",
    "prohibited content",
)


def google_refusal(error: dict[str, Any]) -> bool:
    """Whether a Google error envelope says the content was blocked, by its structured fields.

    Reads every `details[]` entry (google.rpc.ErrorInfo and Vertex's own detail types): a
    `raiFilteredReason`, or a `reason` / `metadata` whose tokens name safety, RAI or prohibited
    content (e.g. "RAI_FILTERED", "PROMPT_BLOCKED_BY_SAFETY"). The message is not read here.
    """
    details = error.get("details")
    for detail in details if isinstance(details, list) else []:
        if not isinstance(detail, dict):
            continue
        if detail.get("raiFilteredReason"):
            return True
        words = [str(detail.get("reason") or "")]
        metadata = detail.get("metadata")
        if isinstance(metadata, dict):
            words += [f"{k} {v}" for k, v in metadata.items()]
        tokens = set(re.split(r"[^A-Z0-9]+", " ".join(words).upper()))
        if tokens & REFUSAL_MARKERS:
            return True
    return False


def google_error(response: transport.Response) -> dict[str, Any]:
    error = (transport.json_or_none(response) or {}).get("error")
    return error if isinstance(error, dict) else {}


def google_check(response: transport.Response, *, product: str, model_id: str) -> None:
    """Raise for a Google (Gemini API or Vertex) error answer: a refusal (structured fields
    first, the message second) → RefusedError; 404 → MisconfiguredError (retired or unknown
    model); anything else → the transport's error for its status. A 2xx returns."""
    if 200 <= response.status < 300:
        return
    error = google_error(response)
    message = str(error.get("message") or transport.error_text(response))
    status = str(error.get("status") or "")
    if response.status in (400, 403) and (google_refusal(error) or any(p in message.lower() for p in REFUSAL_PHRASES)):
        raise RefusedError(f"Google refused this prompt: {message}", status=response.status)
    if response.status == 404:
        raise MisconfiguredError(f"{product} model {model_id!r} is retired or unknown: {message}", status=404)
    raise transport.status_error(response, f"{product} ({model_id}): {status} {message}".strip())


class ImagenAdapter(HttpAdapter):
    @property
    def vertex(self) -> bool:
        api = self.params.get("api")
        if api:
            return api == "vertex"
        return "aiplatform.googleapis.com" in self.engine.base_url or "/projects/" in self.engine.base_url

    @property
    def model(self) -> ImagenModel:
        return MODELS.get(self.engine.model_id, UNKNOWN_MODEL)

    def base_url(self) -> str:
        if self.engine.base_url:
            return self.engine.base_url.rstrip("/")
        if self.vertex:
            raise MisconfiguredError(
                f"Engine {self.engine.slug} uses Vertex AI: set its base URL to "
                "https://LOCATION-aiplatform.googleapis.com/v1/projects/PROJECT/locations/LOCATION."
            )
        return "https://generativelanguage.googleapis.com"

    def check(self, response: transport.Response) -> None:
        google_check(response, product="Imagen", model_id=self.engine.model_id)

    def call(self, request: EngineRequest, *, deadline: transport.Deadline, stats: transport.CallStats) -> EngineResult:
        model = self.model_id()
        caps = self.model
        aspect = sizes.nearest(self.size_options(ASPECTS), width=request.width, height=request.height)
        parameters: dict[str, Any] = {
            "sampleCount": 1,
            "aspectRatio": aspect.value,
            "outputOptions": {"mimeType": "image/png"},
        }
        for key in ("personGeneration", "safetySetting", "language"):
            if key in self.params:
                parameters[key] = self.params[key]
        if "sampleImageSize" in self.params and caps.sample_image_size:
            parameters["sampleImageSize"] = self.params["sampleImageSize"]
        if self.params.get("includeRaiReason", True):
            parameters["includeRaiReason"] = True
        seed_sent: int | None = None
        if self.vertex:
            if request.seed is not None and caps.seed:
                seed_sent = request.seed % (SEED_MAX + 1)
                parameters["seed"] = seed_sent
                parameters["addWatermark"] = False
            if caps.enhance_prompt:
                # A rewritten prompt would defeat the seed and the exact text the editor asked for.
                parameters["enhancePrompt"] = bool(self.params.get("enhancePrompt", False))
            if request.negative_prompt and caps.negative_prompt:
                parameters["negativePrompt"] = request.negative_prompt
            url = f"{self.base_url()}/publishers/google/models/{model}:predict"
            headers = {"Authorization": f"Bearer {self.api_key()}"}
        else:
            url = f"{self.base_url()}/v1beta/models/{model}:predict"
            headers = {"x-goog-api-key": self.api_key()}
        body = {"instances": [{"prompt": request.prompt}], "parameters": parameters}
        response = self.send("POST", url, json=body, headers=headers, deadline=deadline, stats=stats)
        payload = response.json()
        predictions = payload.get("predictions") if isinstance(payload, dict) else None
        images = [p for p in predictions or [] if isinstance(p, dict) and p.get("bytesBase64Encoded")]
        if not images:
            reasons = [p.get("raiFilteredReason") for p in predictions or [] if isinstance(p, dict)]
            reason = next((r for r in reasons if r), "")
            if isinstance(payload, dict) and ("predictions" not in payload or reason or predictions == []):
                raise RefusedError(
                    "Google filtered every image of this prompt" + (f": {reason}" if reason else "."), status=200
                )
            raise BadResponseError("Imagen's answer has no image.")
        image = self.b64(images[0]["bytesBase64Encoded"], what="bytesBase64Encoded image")
        sent: dict[str, Any] = {
            "aspect_ratio": aspect.value,
            "api": "vertex" if self.vertex else "gemini",
            "seed": seed_sent,
            "parameters": sorted(parameters),
        }
        if images[0].get("prompt"):
            sent["enhanced_prompt"] = images[0]["prompt"]
        billing = Billing(
            model=model,
            size=aspect.value,
            quality=str(parameters.get("sampleImageSize", "1K")),
            n=parameters["sampleCount"],
        )
        return self.result(image=image, seed_used=seed_sent, sent=sent, billing=billing)
