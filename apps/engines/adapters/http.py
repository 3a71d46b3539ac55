"""The generic engine protocol (DESIGN.md "Contracts"): the `http` adapter.

`POST <base_url>` with JSON `{"prompt", "seed", "size": "WxH"}` (plus `negative_prompt` and
`guidance` when set, and `adapter` (str) with `adapter_strength` (float) when the template has an
adapter; README "Adapters") answers 200 with the image bytes. Optional answer headers: `X-Seed`
(the seed actually used) and `X-Request-Id`. Errors: JSON `{"error": {"code", "message"}}`
with 400/401 (misconfigured), 422 (content policy: refused), 429 with `Retry-After`, 5xx.
The key, when the engine names one, goes in `Authorization: Bearer`.
"""

from typing import Any

from apps.engines import sizes, transport
from apps.engines.adapters.base import HttpAdapter
from apps.engines.types import Billing, EngineRequest, EngineResult, MisconfiguredError


class GenericHttpAdapter(HttpAdapter):
    needs_key = False

    def base_url(self) -> str:
        url = self.engine.base_url
        if not url:
            raise MisconfiguredError(f"Engine {self.engine.slug} has no endpoint URL.")
        return url

    def check(self, response: transport.Response) -> None:
        if 200 <= response.status < 300:
            return
        message = transport.error_text(response)
        error = (transport.json_or_none(response) or {}).get("error")
        if isinstance(error, dict):
            message = str(error.get("message") or message)
        raise transport.status_error(
            response, f"{self.engine.name}: HTTP {response.status}: {message}", refused=response.status == 422
        )

    def call(self, request: EngineRequest, *, deadline: transport.Deadline, stats: transport.CallStats) -> EngineResult:
        multiple = int(self.params.get("size_multiple", 8))
        options = self.size_options([])
        size = (
            sizes.nearest(options, width=request.width, height=request.height)
            if options
            else sizes.free_size(
                width=request.width,
                height=request.height,
                multiple=multiple,
                max_side=int(self.params.get("max_side", 2048)),
            )
        )
        body: dict[str, Any] = {"prompt": request.prompt, "seed": request.seed, "size": size.value}
        if request.negative_prompt:
            body["negative_prompt"] = request.negative_prompt
        if request.guidance:
            body["guidance"] = request.guidance
        if request.adapter_ref:
            body["adapter"] = request.adapter_ref
            body["adapter_strength"] = request.adapter_strength if request.adapter_strength is not None else 1.0
        headers = {"Accept": "image/png, image/jpeg, image/webp"}
        if self.engine.api_key_env:
            headers["Authorization"] = f"Bearer {self.api_key()}"
        response = self.send("POST", self.base_url(), json=body, headers=headers, deadline=deadline, stats=stats)
        seed_header = response.headers.get("x-seed", "")
        seed_used = int(seed_header) if seed_header.strip().lstrip("-").isdigit() else request.seed
        return self.result(
            image=response.body,
            seed_used=seed_used,
            request_id=response.headers.get("x-request-id", ""),
            sent={
                "size": size.value,
                "seed": request.seed,
                "endpoint": self.base_url(),
                **{k: body[k] for k in ("adapter", "adapter_strength") if k in body},
            },
            billing=Billing(model=self.engine.model_id, size=size.value, quality="", n=1),
        )
