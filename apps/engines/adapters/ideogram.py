"""Ideogram (research/engines.md §4): legacy JSON `/generate`, V3 or V4 multipart.

params["api"] = "legacy" (default for model ids V_2, V_2_TURBO, V_2A, …):
`POST {base}/generate` with JSON `{"image_request": {prompt, model, aspect_ratio
"ASPECT_16_9", seed, negative_prompt, magic_prompt_option, num_images: 1}}`.
params["api"] = "v3" (default for model ids starting with "V_3" or "v3"):
`POST {base}/v1/ideogram-v3/generate` as multipart/form-data (prompt, seed, aspect_ratio
"16x9", rendering_speed, magic_prompt, negative_prompt); there is no model field.
params["api"] = "v4" (default for model ids starting with "V_4" or "v4"):
`POST {base}/v1/ideogram-v4/generate` as multipart/form-data with `text_prompt`,
`resolution` (one of the 21 2K sizes, "2048x2048" …) and `rendering_speed` (TURBO |
DEFAULT | QUALITY; FLASH answers 400 for now). V4 documents no seed, negative prompt,
aspect ratio, magic-prompt option or model field, so none is sent (developer.ideogram.ai
api-reference "Generate with Ideogram 4.0"; multipart as in Ideogram's own V3 endpoint and
clients that call V4 with FormData).
Auth is the `Api-Key` header (not Bearer). Both answer `data[0]` with an ephemeral `url`
that is downloaded at once (without the key: the URL is signed), the `seed` used and
`is_image_safe`; `is_image_safe: false` (still billed by Ideogram) and 422 are refusals.
429 `inflight_limit`: at most 10 images in flight per organisation, hence the engine's
concurrency limit. Download hosts: params["download_hosts"], default ideogram.ai.
Billing: one image; quality = the `rendering_speed` sent (V3/V4 prices differ by speed:
research §4.5), "" for the legacy models (one price per model). An unsafe image is billed
by Ideogram, so its RefusedError carries the billing record.
"""

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
    billed_on_failure,
)

RATIOS = [
    (1, 1, 1024, 1024),
    (16, 9, 1312, 736),
    (9, 16, 736, 1312),
    (16, 10, 1280, 800),
    (10, 16, 800, 1280),
    (3, 2, 1248, 832),
    (2, 3, 832, 1248),
    (4, 3, 1152, 864),
    (3, 4, 864, 1152),
    (3, 1, 1728, 576),
    (1, 3, 576, 1728),
]
V3_EXTRA = [(2, 1, 1408, 704), (1, 2, 704, 1408), (5, 4, 1120, 896), (4, 5, 896, 1120)]
LEGACY_ASPECTS = [sizes.SizeOption(value=f"ASPECT_{a}_{b}", width=w, height=h) for a, b, w, h in RATIOS]
V3_ASPECTS = [sizes.SizeOption(value=f"{a}x{b}", width=w, height=h) for a, b, w, h in RATIOS + V3_EXTRA]
V4_RESOLUTIONS = [
    (2048, 2048), (1440, 2880), (2880, 1440), (1664, 2496), (2496, 1664), (1792, 2240), (2240, 1792),
    (1440, 2560), (2560, 1440), (1600, 2560), (2560, 1600), (1728, 2304), (2304, 1728), (1296, 3168),
    (3168, 1296), (1152, 2944), (2944, 1152), (1248, 3328), (3328, 1248), (1280, 3072), (3072, 1280),
]  # fmt: skip
V4_SIZES = sizes.sized(*V4_RESOLUTIONS)
V4_SPEEDS = ("TURBO", "DEFAULT", "QUALITY")
SEED_MAX = 2147483647
DOWNLOAD_HOSTS = ["ideogram.ai", "*.ideogram.ai"]


class IdeogramAdapter(HttpAdapter):
    default_base_url = "https://api.ideogram.ai"

    @property
    def api(self) -> str:
        api = self.params.get("api")
        if api:
            return str(api)
        model = self.engine.model_id.upper()
        if model.startswith(("V_4", "V4")):
            return "v4"
        return "v3" if model.startswith(("V_3", "V3")) else "legacy"

    @property
    def v3(self) -> bool:
        return self.api == "v3"

    def check(self, response: transport.Response) -> None:
        if 200 <= response.status < 300:
            return
        payload = transport.json_or_none(response) or {}
        message = str(payload.get("error") or payload.get("message") or transport.error_text(response))
        reason = str(payload.get("reject_reason") or "")
        if response.status == 422 or "safety check" in message.lower():
            raise RefusedError(f"Ideogram's safety check refused this prompt: {message}", status=response.status)
        if response.status == 402:
            raise MisconfiguredError(
                f"Ideogram refused payment ({reason or 'payment required'}): {message}", status=402
            )
        raise transport.status_error(response, f"Ideogram{f' ({reason})' if reason else ''}: {message}")

    def call(self, request: EngineRequest, *, deadline: transport.Deadline, stats: transport.CallStats) -> EngineResult:
        headers = {"Api-Key": self.api_key()}
        seed_sent = None if request.seed is None else request.seed % (SEED_MAX + 1)
        magic = str(self.params.get("magic_prompt", "OFF"))
        sent: dict[str, Any] = {"seed": seed_sent}
        quality = ""
        if self.api == "v4":
            size = sizes.nearest(self.size_options(V4_SIZES), width=request.width, height=request.height)
            speed = str(self.params.get("rendering_speed", "DEFAULT"))
            if speed not in V4_SPEEDS:
                raise MisconfiguredError(f"Ideogram 4.0 rendering_speed must be one of {', '.join(V4_SPEEDS)}.")
            fields = {"text_prompt": request.prompt, "resolution": size.value, "rendering_speed": speed}
            url = f"{self.base_url()}/v1/ideogram-v4/generate"
            files = {name: (None, value) for name, value in fields.items()}
            response = self.send("POST", url, files=files, headers=headers, deadline=deadline, stats=stats)
            seed_sent = None
            sent.update(api="v4", resolution=size.value, rendering_speed=speed, seed=None)
            billed_size, quality = size.value, speed
        elif self.v3:
            aspect = sizes.nearest(self.size_options(V3_ASPECTS), width=request.width, height=request.height)
            fields: dict[str, str] = {
                "prompt": request.prompt,
                "aspect_ratio": aspect.value,
                "rendering_speed": str(self.params.get("rendering_speed", "TURBO")),
                "magic_prompt": magic,
                "num_images": "1",
            }
            if seed_sent is not None:
                fields["seed"] = str(seed_sent)
            if request.negative_prompt:
                fields["negative_prompt"] = request.negative_prompt
            if self.params.get("style_type"):
                fields["style_type"] = str(self.params["style_type"])
            url = f"{self.base_url()}/v1/ideogram-v3/generate"
            files = {name: (None, value) for name, value in fields.items()}
            response = self.send("POST", url, files=files, headers=headers, deadline=deadline, stats=stats)
            sent.update(api="v3", aspect_ratio=aspect.value, rendering_speed=fields["rendering_speed"])
            billed_size, quality = aspect.value, fields["rendering_speed"]
        else:
            aspect = sizes.nearest(self.size_options(LEGACY_ASPECTS), width=request.width, height=request.height)
            image_request: dict[str, Any] = {
                "prompt": request.prompt,
                "model": self.model_id("V_2"),
                "aspect_ratio": aspect.value,
                "magic_prompt_option": magic,
                "num_images": 1,
            }
            if seed_sent is not None:
                image_request["seed"] = seed_sent
            if request.negative_prompt:
                image_request["negative_prompt"] = request.negative_prompt
            if self.params.get("style_type"):
                image_request["style_type"] = self.params["style_type"]
            url = f"{self.base_url()}/generate"
            response = self.send(
                "POST", url, json={"image_request": image_request}, headers=headers, deadline=deadline, stats=stats
            )
            sent.update(api="legacy", aspect_ratio=aspect.value)
            billed_size = aspect.value
        payload = response.json()
        data = payload.get("data") if isinstance(payload, dict) else None
        if not isinstance(data, list) or not data or not isinstance(data[0], dict):
            raise BadResponseError("Ideogram's answer has no image data.")
        item = data[0]
        model = {"v4": "V_4", "v3": "V_3"}.get(self.api) or self.model_id("V_2")
        billing = Billing(model=model, size=billed_size, quality=quality, n=1)
        if item.get("is_image_safe") is False:
            raise RefusedError(
                "Ideogram marked the generated image unsafe (is_image_safe: false; Ideogram bills it).",
                status=200,
                billing=billing,
            )
        if not item.get("url"):
            raise BadResponseError("Ideogram's answer has no image URL.")
        hosts = list(self.params.get("download_hosts", DOWNLOAD_HOSTS))
        with billed_on_failure(billing):  # the image was generated (and billed) before the download
            image = self.download(str(item["url"]), deadline=deadline, stats=stats, allow_hosts=hosts)
        seed_used = item.get("seed") if isinstance(item.get("seed"), int) else None
        if item.get("resolution"):
            sent["resolution"] = item["resolution"]
        return self.result(
            image=image,
            seed_used=None if self.api == "v4" else seed_used,  # V4 takes no seed: its echo is its own
            request_id=str(payload.get("request_id", "")),
            sent=sent,
            billing=billing,
        )
