"""Google's Gemini image models on the Gemini API: `:generateContent` (Nano Banana 2).

`POST {base}/v1beta/models/{model}:generateContent` with `x-goog-api-key` and
{"contents": [{"role": "user", "parts": [{"text": prompt}]}],
 "generationConfig": {"responseModalities": ["IMAGE"],
                      "imageConfig": {"aspectRatio": "16:9", "imageSize": "1K"}}}.
The answer's `candidates[0].content.parts[]` hold the image as `inlineData{mimeType, data}`
(base64); `usageMetadata{promptTokenCount, candidatesTokenCount, totalTokenCount,
candidatesTokensDetails[{modality, tokenCount}]}` is what Google bills (1K image = 1120
output tokens). Sources: ai.google.dev/gemini-api/docs/image-generation (request and answer
shape), docs.cloud.google.com …/models/gemini/3-1-flash-image-preview (token counts per
size; `gemini-3.1-flash-image` is the GA id replacing `-preview`), googleapis/python-genai
`types.py` (ImageConfig, BlockedReason, FinishReason).

No seed or negative prompt is documented for image output, so neither is sent and
`seed_used` is None. Aspect ratios 1:1, 2:3, 3:2, 3:4, 4:3, 4:5, 5:4, 9:16, 16:9, 21:9;
`imageSize` from params (default "1K"; "512", "1K", "2K", "4K").

Refusals come from structured fields: `promptFeedback.blockReason` (SAFETY, BLOCKLIST,
PROHIBITED_CONTENT, IMAGE_SAFETY, OTHER) on a 200 with no candidates, a candidate's
`finishReason` naming safety / prohibited content / blocklist / SPII / recitation, and a
400/403 error whose details name a safety block (as for Imagen); the message second.
A 200 whose candidate has only text (the model declined in words) is a refusal too.
"""

import re
from typing import Any

from apps.engines import sizes, transport
from apps.engines.adapters.base import HttpAdapter
from apps.engines.adapters.imagen import google_check
from apps.engines.types import (
    BadResponseError,
    Billing,
    EngineRequest,
    EngineResult,
    MisconfiguredError,
    RefusedError,
    TokenUsage,
)

ASPECTS = [  # 1K pixel sizes (ai.google.dev/gemini-api/docs/image-generation)
    sizes.ratio_option("1:1", 1024, 1024),
    sizes.ratio_option("2:3", 848, 1264),
    sizes.ratio_option("3:2", 1264, 848),
    sizes.ratio_option("3:4", 896, 1200),
    sizes.ratio_option("4:3", 1200, 896),
    sizes.ratio_option("4:5", 928, 1152),
    sizes.ratio_option("5:4", 1152, 928),
    sizes.ratio_option("9:16", 768, 1376),
    sizes.ratio_option("16:9", 1376, 768),
    sizes.ratio_option("21:9", 1584, 672),
]
IMAGE_SIZES = ("512", "1K", "2K", "4K")
REFUSED_FINISH = re.compile(r"SAFETY|PROHIBITED|BLOCKLIST|SPII|RECITATION")


def gemini_usage(raw: Any) -> TokenUsage | None:
    """`usageMetadata` as a TokenUsage (image tokens from `candidatesTokensDetails`)."""
    if not isinstance(raw, dict):
        return None
    prompt = raw.get("promptTokenCount", 0)
    output = raw.get("candidatesTokenCount", 0)
    total = raw.get("totalTokenCount", 0)
    image_out = text_out = 0
    details = raw.get("candidatesTokensDetails")
    for detail in details if isinstance(details, list) else []:
        if not isinstance(detail, dict) or not isinstance(detail.get("tokenCount"), int):
            continue
        if detail.get("modality") == "IMAGE":
            image_out += detail["tokenCount"]
        elif detail.get("modality") == "TEXT":
            text_out += detail["tokenCount"]
    values = (prompt, output, total)
    if not all(isinstance(v, int) and not isinstance(v, bool) for v in values):
        return None
    return TokenUsage(
        input_tokens=prompt,
        input_text_tokens=prompt,
        output_tokens=output,
        output_image_tokens=image_out,
        output_text_tokens=text_out,
        total_tokens=total,
    )


class GeminiImageAdapter(HttpAdapter):
    default_base_url = "https://generativelanguage.googleapis.com"

    def check(self, response: transport.Response) -> None:
        google_check(response, product="Gemini", model_id=self.engine.model_id)

    def call(self, request: EngineRequest, *, deadline: transport.Deadline, stats: transport.CallStats) -> EngineResult:
        model = self.model_id()
        aspect = sizes.nearest(self.size_options(ASPECTS), width=request.width, height=request.height)
        image_size = str(self.params.get("imageSize", "1K"))
        if image_size not in IMAGE_SIZES:
            raise MisconfiguredError(f"params.imageSize must be one of {', '.join(IMAGE_SIZES)} (got {image_size!r}).")
        body = {
            "contents": [{"role": "user", "parts": [{"text": request.prompt}]}],
            "generationConfig": {
                "responseModalities": ["IMAGE"],
                "imageConfig": {"aspectRatio": aspect.value, "imageSize": image_size},
            },
        }
        url = f"{self.base_url()}/v1beta/models/{model}:generateContent"
        headers = {"x-goog-api-key": self.api_key()}
        response = self.send("POST", url, json=body, headers=headers, deadline=deadline, stats=stats)
        payload = response.json()
        if not isinstance(payload, dict):
            raise BadResponseError("Gemini's answer is not a JSON object.")
        feedback = payload.get("promptFeedback") if isinstance(payload.get("promptFeedback"), dict) else {}
        candidates = payload.get("candidates") if isinstance(payload.get("candidates"), list) else []
        if feedback.get("blockReason") and not candidates:
            raise RefusedError(
                f"Google blocked this prompt (blockReason {feedback['blockReason']}).", status=response.status
            )
        candidate = candidates[0] if candidates and isinstance(candidates[0], dict) else {}
        finish = str(candidate.get("finishReason") or "")
        content = candidate.get("content") if isinstance(candidate.get("content"), dict) else {}
        parts = [p for p in content.get("parts") or [] if isinstance(p, dict)]
        images = [
            p["inlineData"] for p in parts if isinstance(p.get("inlineData"), dict) and p["inlineData"].get("data")
        ]
        if not images:
            if REFUSED_FINISH.search(finish):
                raise RefusedError(f"Google withheld the image (finishReason {finish}).", status=response.status)
            said = " ".join(str(p.get("text", "")) for p in parts if p.get("text")).strip()
            if said or finish in ("NO_IMAGE", "IMAGE_OTHER", "OTHER"):
                raise RefusedError(
                    f"Gemini answered without an image (finishReason {finish or '?'})"
                    + (f": {said[:300]}" if said else "."),
                    status=response.status,
                )
            raise BadResponseError("Gemini's answer has no image.")
        image = self.b64(images[0].get("data"), what="inlineData image")
        usage_raw = payload.get("usageMetadata")
        billing = Billing(
            model=model,
            size=aspect.value,
            quality=image_size,
            n=1,
            usage=gemini_usage(usage_raw),
            usage_raw=usage_raw if isinstance(usage_raw, dict) else None,
        )
        sent = {"aspect_ratio": aspect.value, "image_size": image_size, "seed": None, "finish_reason": finish}
        return self.result(
            image=image, seed_used=None, request_id=str(payload.get("responseId", "")), sent=sent, billing=billing
        )
