"""OpenAI Images API: `POST {base}/images/generations` (research/engines.md §1).

dall-e-3: sizes 1024x1024 | 1792x1024 | 1024x1792, quality standard | hd, style vivid |
natural, `response_format: b64_json`. GPT image models (gpt-image-1, -1-mini, -1.5, -2):
sizes 1024x1024 | 1536x1024 | 1024x1536 (gpt-image-2: any WxH ÷16, 1:3–3:1, ≤3840×2160),
quality low | medium | high, `output_format`, no
`response_format` (always base64), token `usage` in the answer. No model takes a seed, so
`seed_used` is None. DALL·E 3 and gpt-image-1 are retired: the model id is configuration,
and a retired model's `model_not_found` is a MisconfiguredError.

Quality: a blank quality (the tier's and the engine's) is sent as the adapter's default,
"standard" for DALL·E 3 and "medium" for GPT image, and recorded as such; "auto" is recorded
as the quality the answer reports (GPT image answers carry `quality`).

Billing: `result.billing` records model, size, quality and n as sent, and the answer's
`usage` (GPT image only) as a TokenUsage; `pricing.price_attempt` prices it from the tokens
and falls back to the price table. The older `billed_units` (token cost ÷ table price, with
params `usd_per_1m_image_output_tokens`) is kept for callers that still multiply a table price.
Refusals are read from the error's `code` (`content_policy_violation`, `moderation_blocked`)
or `type` (`image_generation_user_error` with `moderation_details`) first, the message second.
"""

from decimal import Decimal, InvalidOperation
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
    TokenUsage,
    billed_on_failure,
)

DALLE_SIZES = sizes.sized((1024, 1024), (1792, 1024), (1024, 1792))
GPT_IMAGE_SIZES = sizes.sized((1024, 1024), (1536, 1024), (1024, 1536))
DALLE_QUALITIES = ("standard", "hd")
GPT_QUALITIES = ("low", "medium", "high", "auto")
REFUSAL_CODES = ("content_policy_violation", "moderation_blocked")
REFUSAL_PHRASES = ("safety system", "content policy")


def openai_usage(raw: Any) -> TokenUsage | None:
    """`ImageGenUsage` (research/engines.md §1.2) as a TokenUsage; None if it is not one."""
    if not isinstance(raw, dict):
        return None
    inputs = raw.get("input_tokens_details") if isinstance(raw.get("input_tokens_details"), dict) else {}
    outputs = raw.get("output_tokens_details") if isinstance(raw.get("output_tokens_details"), dict) else {}
    values = {
        "input_tokens": raw.get("input_tokens", 0),
        "input_text_tokens": inputs.get("text_tokens", 0),
        "input_image_tokens": inputs.get("image_tokens", 0),
        "output_tokens": raw.get("output_tokens", 0),
        "output_image_tokens": outputs.get("image_tokens", 0),
        "output_text_tokens": outputs.get("text_tokens", 0),
        "total_tokens": raw.get("total_tokens", 0),
    }
    if not all(isinstance(v, int) and not isinstance(v, bool) for v in values.values()):
        return None
    return TokenUsage(**values)


class OpenAIAdapter(HttpAdapter):
    default_base_url = "https://api.openai.com/v1"

    @property
    def is_dalle(self) -> bool:
        return self.model_id().startswith("dall-e")

    def quality(self, request: EngineRequest) -> str:
        allowed = DALLE_QUALITIES if self.is_dalle else GPT_QUALITIES
        for value in (request.extra.get("quality"), self.params.get("quality")):
            if value in allowed:
                return str(value)
        return "standard" if self.is_dalle else "medium"

    def size_for(self, model: str, *, width: int, height: int) -> sizes.SizeOption:
        """dall-e-3 and gpt-image-1.x take three sizes; gpt-image-2 takes any WxH with both
        sides divisible by 16, aspect between 1:3 and 3:1, at most 3840×2160 (2160 on the
        short side)."""
        if self.params.get("sizes") or not model.startswith("gpt-image-2"):
            return sizes.nearest(
                self.size_options(DALLE_SIZES if self.is_dalle else GPT_IMAGE_SIZES), width=width, height=height
            )
        if width > 3 * height:
            width = 3 * height
        elif height > 3 * width:
            height = 3 * width
        scale = min(1.0, 3840 / max(width, height), 2160 / min(width, height))
        size = sizes.free_size(width=round(width * scale), height=round(height * scale), multiple=16, max_side=3840)
        w, h = size.width, size.height
        while w > 3 * h:  # rounding to 16 can tip a 3:1 canvas over the limit
            w -= 16
        while h > 3 * w:
            h -= 16
        return sizes.SizeOption(value=f"{w}x{h}", width=w, height=h)

    def check(self, response: transport.Response) -> None:
        if 200 <= response.status < 300:
            return
        error = (transport.json_or_none(response) or {}).get("error")
        error = error if isinstance(error, dict) else {}
        code = str(error.get("code") or "")
        message = str(error.get("message") or transport.error_text(response))
        text = f"OpenAI ({self.engine.model_id}): {message}"
        structured = code in REFUSAL_CODES or (
            error.get("type") == "image_generation_user_error" and "moderation_details" in error
        )
        worded = response.status == 400 and any(p in message.lower() for p in REFUSAL_PHRASES)
        if structured or worded:
            raise RefusedError(f"OpenAI's safety system refused this prompt: {message}", status=response.status)
        if code == "model_not_found" or response.status == 404:
            raise MisconfiguredError(
                f"OpenAI model {self.engine.model_id!r} is retired or unknown: {message}", status=response.status
            )
        raise transport.status_error(response, text)

    def call(self, request: EngineRequest, *, deadline: transport.Deadline, stats: transport.CallStats) -> EngineResult:
        model = self.model_id()
        size = self.size_for(model, width=request.width, height=request.height)
        quality = self.quality(request)
        body: dict[str, Any] = {
            "model": model,
            "prompt": request.prompt,
            "n": 1,
            "size": size.value,
            "quality": quality,
        }
        if self.is_dalle:
            body["response_format"] = "b64_json"
            if self.params.get("style") in ("vivid", "natural"):
                body["style"] = self.params["style"]
        else:
            body["output_format"] = self.params.get("output_format", "png")
            for key in ("background", "moderation", "output_compression"):
                if key in self.params:
                    body[key] = self.params[key]
        headers = {"Authorization": f"Bearer {self.api_key()}"}
        if self.params.get("organization"):
            headers["OpenAI-Organization"] = str(self.params["organization"])
        if self.params.get("project"):
            headers["OpenAI-Project"] = str(self.params["project"])
        url = f"{self.base_url()}/images/generations"
        response = self.send("POST", url, json=body, headers=headers, deadline=deadline, stats=stats)
        payload = response.json()
        data = payload.get("data") if isinstance(payload, dict) else None
        if not isinstance(data, list) or not data or not isinstance(data[0], dict):
            raise BadResponseError("OpenAI's answer has no image data.")
        item = data[0]
        sent: dict[str, Any] = {"size": size.value, "quality": quality, "seed": None}
        if item.get("revised_prompt"):
            sent["revised_prompt"] = item["revised_prompt"]
        billed = 1.0
        usage = payload.get("usage")
        if isinstance(usage, dict):
            sent["usage"] = usage
            billed = self.billed_from_usage(usage, size=size.value, quality=quality, sent=sent)
        # "auto" lets the vendor choose: bill what the answer says it used.
        billed_quality = quality
        if quality == "auto" and payload.get("quality") in ("low", "medium", "high"):
            billed_quality = str(payload["quality"])
        billed_size = size.value
        if size.value == "auto" and isinstance(payload.get("size"), str):
            billed_size = payload["size"]
        billing = Billing(
            model=model,
            size=billed_size,
            quality=billed_quality,
            n=int(body["n"]),
            usage=openai_usage(usage),
            usage_raw=usage if isinstance(usage, dict) else None,
        )
        with billed_on_failure(billing):  # a 200 with image data was billed, readable or not
            if item.get("b64_json"):
                image = self.b64(item["b64_json"], what="b64_json image")
            elif item.get("url"):
                hosts = list(self.params.get("download_hosts", []))
                image = self.download(str(item["url"]), deadline=deadline, stats=stats, allow_hosts=hosts)
            else:
                raise BadResponseError("OpenAI's answer has neither b64_json nor url.")
        return self.result(
            image=image,
            seed_used=None,
            request_id=response.headers.get("x-request-id", ""),
            billed_units=billed,
            sent=sent,
            billing=billing,
        )

    def billed_from_usage(self, usage: dict[str, Any], *, size: str, quality: str, sent: dict[str, Any]) -> float:
        try:
            out_rate = Decimal(str(self.params["usd_per_1m_image_output_tokens"]))
            in_rate = Decimal(str(self.params.get("usd_per_1m_text_input_tokens", "0")))
            out_tokens = Decimal(str(usage.get("output_tokens", 0)))
            in_tokens = Decimal(str(usage.get("input_tokens", 0)))
        except (KeyError, InvalidOperation):
            return 1.0
        cost = (out_tokens * out_rate + in_tokens * in_rate) / Decimal(1_000_000)
        entry = (self.engine.price_table or {}).get(size)
        if isinstance(entry, dict):
            entry = entry.get(quality) or next(iter(entry.values()), None)
        table = Decimal(str(entry)) if entry is not None else self.engine.price_usd
        sent["usage_cost_usd"] = str(cost.quantize(Decimal("0.000001")))
        if not table:
            return 1.0
        return float(cost / table)
