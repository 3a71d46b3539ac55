"""Stability AI Stable Image: `POST {base}/v2beta/stable-image/generate/sd3` (research §3).

The body is multipart/form-data even with no file (httpx's `data=` alone would send
urlencoded), so every field goes through `files={name: (None, value)}`. Model ids:
`sd3.5-large-turbo` (the real id), `sd3.5-large`, `sd3.5-medium`. Nine aspect ratios at
≈1 MP. `Accept: image/*` answers raw bytes with `finish-reason` (SUCCESS | CONTENT_FILTERED)
and `seed` headers; `Accept: application/json` answers `{"image", "finish_reason", "seed"}`
(both are read; params["accept"] = "json" asks for the JSON form).
CONTENT_FILTERED (a blurred image, HTTP 200) and 403 `content_moderation`
are refusals: the error's `name` first, the message ("content moderation") second.
Turbo ignores negative prompts and cfg_scale, so they are not sent to it.
Billing: one image at the model's flat credit price (research §3.4: SD3.5 Large 6.5 credits,
Large Turbo 4, Medium 3.5; 1 credit = $0.01); the answer carries no usage.
"""

from typing import Any

from apps.engines import sizes, transport
from apps.engines.adapters.base import HttpAdapter
from apps.engines.types import Billing, EngineRequest, EngineResult, MisconfiguredError, RefusedError

ASPECTS = [
    sizes.ratio_option("1:1", 1024, 1024),
    sizes.ratio_option("5:4", 1088, 896),
    sizes.ratio_option("4:5", 896, 1088),
    sizes.ratio_option("3:2", 1216, 832),
    sizes.ratio_option("2:3", 832, 1216),
    sizes.ratio_option("16:9", 1344, 768),
    sizes.ratio_option("9:16", 768, 1344),
    sizes.ratio_option("21:9", 1536, 640),
    sizes.ratio_option("9:21", 640, 1536),
]
SEED_MAX = 4294967294


class StabilityAdapter(HttpAdapter):
    default_base_url = "https://api.stability.ai"

    def check(self, response: transport.Response) -> None:
        if 200 <= response.status < 300:
            return
        payload = transport.json_or_none(response) or {}
        name = str(payload.get("name") or "")
        errors = payload.get("errors")
        message = (
            "; ".join(str(e) for e in errors) if isinstance(errors, list) and errors else transport.error_text(response)
        )
        if name == "content_moderation" or (
            response.status in (400, 403, 422) and "content moderation" in message.lower()
        ):
            raise RefusedError(f"Stability's content moderation refused this prompt: {message}", status=response.status)
        if response.status == 402:
            raise MisconfiguredError(f"Stability account has no credits left: {message}", status=402)
        if response.status == 404:
            raise MisconfiguredError(
                f"Stability model {self.engine.model_id!r} is retired or unknown: {message}", status=404
            )
        raise transport.status_error(response, f"Stability ({name or response.status}): {message}")

    def call(self, request: EngineRequest, *, deadline: transport.Deadline, stats: transport.CallStats) -> EngineResult:
        model = self.model_id("sd3.5-large-turbo")
        aspect = sizes.nearest(self.size_options(ASPECTS), width=request.width, height=request.height)
        output_format = str(self.params.get("output_format", "png"))
        fields: dict[str, str] = {
            "prompt": request.prompt,
            "model": model,
            "mode": "text-to-image",
            "aspect_ratio": aspect.value,
            "output_format": output_format,
        }
        seed_sent: int | None = None
        if request.seed is not None:
            seed_sent = request.seed % (SEED_MAX + 1)
            fields["seed"] = str(seed_sent)
        turbo = "turbo" in model
        if request.negative_prompt and not turbo:
            fields["negative_prompt"] = request.negative_prompt
        if "cfg_scale" in self.params and not turbo:
            fields["cfg_scale"] = str(self.params["cfg_scale"])
        files = {name: (None, value) for name, value in fields.items()}
        accept = "application/json" if self.params.get("accept") == "json" else "image/*"
        headers = {"Authorization": f"Bearer {self.api_key()}", "Accept": accept}
        url = f"{self.base_url()}/v2beta/stable-image/generate/sd3"
        response = self.send("POST", url, files=files, headers=headers, deadline=deadline, stats=stats)
        if response.content_type == "application/json":
            payload = response.json()
            finish = str(payload.get("finish_reason", ""))
            seed_text = str(payload.get("seed", ""))
            image = self.b64(payload.get("image"), what="base64 image")
        else:
            finish = response.headers.get("finish-reason", "")
            seed_text = response.headers.get("seed", "")
            image = response.body
        if finish.upper() == "CONTENT_FILTERED":
            raise RefusedError(
                "Stability's safety filter blurred this image (finish-reason CONTENT_FILTERED).", status=200
            )
        seed_used = int(seed_text) if seed_text.isdigit() else None
        sent: dict[str, Any] = {"aspect_ratio": aspect.value, "seed": seed_sent, "output_format": output_format}
        sent["finish_reason"] = finish or "SUCCESS"
        return self.result(
            image=image,
            seed_used=seed_used,
            request_id=response.headers.get("x-request-id", ""),
            sent=sent,
            billing=Billing(model=model, size=aspect.value, quality="", n=1),
        )
