"""Ideogram (research/engines.md §4): legacy JSON `/generate` or V3 multipart.

params["api"] = "legacy" (default for model ids V_2, V_2_TURBO, V_2A, …):
`POST {base}/generate` with JSON `{"image_request": {prompt, model, aspect_ratio
"ASPECT_16_9", seed, negative_prompt, magic_prompt_option, num_images: 1}}`.
params["api"] = "v3" (default for model ids starting with "V_3" or "v3"):
`POST {base}/v1/ideogram-v3/generate` as multipart/form-data (prompt, seed, aspect_ratio
"16x9", rendering_speed, magic_prompt, negative_prompt); there is no model field.
Auth is the `Api-Key` header (not Bearer). Both answer `data[0]` with an ephemeral `url`
that is downloaded at once (without the key: the URL is signed), the `seed` used and
`is_image_safe`; `is_image_safe: false` (still billed by Ideogram) and 422 are refusals.
429 `inflight_limit`: at most 10 images in flight per organisation, hence the engine's
concurrency limit. Download hosts: params["download_hosts"], default ideogram.ai.
"""

from typing import Any

from apps.engines import sizes, transport
from apps.engines.adapters.base import HttpAdapter
from apps.engines.types import BadResponseError, EngineRequest, EngineResult, MisconfiguredError, RefusedError

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
SEED_MAX = 2147483647
DOWNLOAD_HOSTS = ["ideogram.ai", "*.ideogram.ai"]


class IdeogramAdapter(HttpAdapter):
    default_base_url = "https://api.ideogram.ai"

    @property
    def v3(self) -> bool:
        api = self.params.get("api")
        if api:
            return api == "v3"
        return self.engine.model_id.upper().startswith(("V_3", "V3"))

    def check(self, response: transport.Response) -> None:
        if 200 <= response.status < 300:
            return
        payload = transport.json_or_none(response) or {}
        message = str(payload.get("error") or payload.get("message") or transport.error_text(response))
        reason = str(payload.get("reject_reason") or "")
        if response.status == 422:
            raise RefusedError(f"Ideogram's safety check refused this prompt: {message}", status=422)
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
        if self.v3:
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
        payload = response.json()
        data = payload.get("data") if isinstance(payload, dict) else None
        if not isinstance(data, list) or not data or not isinstance(data[0], dict):
            raise BadResponseError("Ideogram's answer has no image data.")
        item = data[0]
        if item.get("is_image_safe") is False:
            raise RefusedError("Ideogram marked the generated image unsafe (is_image_safe: false; Ideogram bills it).")
        if not item.get("url"):
            raise BadResponseError("Ideogram's answer has no image URL.")
        hosts = list(self.params.get("download_hosts", DOWNLOAD_HOSTS))
        image = self.download(str(item["url"]), deadline=deadline, stats=stats, allow_hosts=hosts)
        seed_used = item.get("seed") if isinstance(item.get("seed"), int) else None
        if item.get("resolution"):
            sent["resolution"] = item["resolution"]
        return self.result(image=image, seed_used=seed_used, request_id=str(payload.get("request_id", "")), sent=sent)
