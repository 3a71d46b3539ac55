"""Google Imagen through `:predict` (research/engines.md §2), on either backend.

params["api"] = "gemini" (default): `POST {base}/v1beta/models/{model}:predict` with
`x-goog-api-key`; no seed, watermark, negative prompt (the API refuses them), so
`seed_used` is None. params["api"] = "vertex": base_url is
`https://{LOCATION}-aiplatform.googleapis.com/v1/projects/{P}/locations/{L}` and the call is
`POST {base}/publishers/google/models/{model}:predict` with `Authorization: Bearer <token>`
(the env var holds an OAuth access token); the seed is sent with `addWatermark: false`,
which Vertex requires for a seed, and is honoured.

Aspect ratios 1:1, 3:4, 4:3, 9:16, 16:9 (1K sizes below). An image-less 200 (every image
filtered, maybe with `raiFilteredReason`) and a 400 citing Responsible AI are refusals;
404 is a retired model (Imagen 4 is deprecated).
"""

from typing import Any

from apps.engines import sizes, transport
from apps.engines.adapters.base import HttpAdapter
from apps.engines.types import BadResponseError, EngineRequest, EngineResult, MisconfiguredError, RefusedError

ASPECTS = [
    sizes.ratio_option("1:1", 1024, 1024),
    sizes.ratio_option("3:4", 896, 1280),
    sizes.ratio_option("4:3", 1280, 896),
    sizes.ratio_option("9:16", 768, 1408),
    sizes.ratio_option("16:9", 1408, 768),
]
SEED_MAX = 2**32 - 1


class ImagenAdapter(HttpAdapter):
    @property
    def vertex(self) -> bool:
        return self.params.get("api", "gemini") == "vertex"

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
        if 200 <= response.status < 300:
            return
        error = (transport.json_or_none(response) or {}).get("error")
        error = error if isinstance(error, dict) else {}
        message = str(error.get("message") or transport.error_text(response))
        status = str(error.get("status") or "")
        if response.status == 400 and ("Responsible AI" in message or "sensitive words" in message):
            raise RefusedError(f"Google refused this prompt: {message}", status=400)
        if response.status == 404:
            raise MisconfiguredError(
                f"Imagen model {self.engine.model_id!r} is retired or unknown: {message}", status=404
            )
        raise transport.status_error(response, f"Imagen ({self.engine.model_id}): {status} {message}".strip())

    def call(self, request: EngineRequest, *, deadline: transport.Deadline, stats: transport.CallStats) -> EngineResult:
        model = self.model_id()
        aspect = sizes.nearest(self.size_options(ASPECTS), width=request.width, height=request.height)
        parameters: dict[str, Any] = {
            "sampleCount": 1,
            "aspectRatio": aspect.value,
            "outputOptions": {"mimeType": "image/png"},
        }
        for key in ("sampleImageSize", "personGeneration", "safetySetting", "language"):
            if key in self.params:
                parameters[key] = self.params[key]
        if self.params.get("includeRaiReason", True):
            parameters["includeRaiReason"] = True
        seed_sent: int | None = None
        if self.vertex:
            if request.seed is not None:
                seed_sent = request.seed % (SEED_MAX + 1)
                parameters["seed"] = seed_sent
                parameters["addWatermark"] = False
            parameters["enhancePrompt"] = bool(self.params.get("enhancePrompt", False))
            if request.negative_prompt:
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
        }
        if images[0].get("prompt"):
            sent["enhanced_prompt"] = images[0]["prompt"]
        return self.result(image=image, seed_used=seed_sent, sent=sent)
