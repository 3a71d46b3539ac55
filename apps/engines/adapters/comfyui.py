"""A self-hosted ComfyUI: `POST /prompt`, poll `GET /history/{id}`, fetch `GET /view`.

The workflow (ComfyUI's API format: {node_id: {"class_type", "inputs"}}) is stored in
params["workflow"]; string inputs equal to a placeholder are substituted: "{{prompt}}",
"{{negative_prompt}}", "{{seed}}", "{{width}}", "{{height}}", "{{model}}" (numbers become
numbers), and placeholders inside longer strings are replaced as text. Without a stored
workflow a plain SD text-to-image graph with `model_id` as the checkpoint is used. The seed
is substituted, so it is honoured. Sizes: any, rounded to multiples of 8.
The key, if the engine names one, is sent as a Bearer token (for a proxy in front).

Outputs: only images a SaveImage node wrote (`type: "output"` in /history) are taken;
PreviewImage drafts (`type: "temp"`) are skipped even when listed first. A 200 answer to
`/prompt` with non-empty `node_errors` is a misconfigured workflow (ComfyUI queued only the
valid outputs), as is a 400 with `node_errors`. Billing: one image at the size sent, priced
at the engine's configured price (self-hosted: $0 is allowed).
"""

import time
import uuid
from typing import Any
from urllib.parse import urlencode

from apps.engines import sizes, transport
from apps.engines.adapters.base import HttpAdapter
from apps.engines.types import BadResponseError, Billing, EngineRequest, EngineResult, MisconfiguredError

DEFAULT_WORKFLOW: dict[str, Any] = {
    "3": {
        "class_type": "KSampler",
        "inputs": {
            "seed": "{{seed}}",
            "steps": 20,
            "cfg": 7,
            "sampler_name": "euler",
            "scheduler": "normal",
            "denoise": 1,
            "model": ["4", 0],
            "positive": ["6", 0],
            "negative": ["7", 0],
            "latent_image": ["5", 0],
        },
    },
    "4": {"class_type": "CheckpointLoaderSimple", "inputs": {"ckpt_name": "{{model}}"}},
    "5": {"class_type": "EmptyLatentImage", "inputs": {"width": "{{width}}", "height": "{{height}}", "batch_size": 1}},
    "6": {"class_type": "CLIPTextEncode", "inputs": {"text": "{{prompt}}", "clip": ["4", 1]}},
    "7": {"class_type": "CLIPTextEncode", "inputs": {"text": "{{negative_prompt}}", "clip": ["4", 1]}},
    "8": {"class_type": "VAEDecode", "inputs": {"samples": ["3", 0], "vae": ["4", 2]}},
    "9": {"class_type": "SaveImage", "inputs": {"filename_prefix": "renderhub", "images": ["8", 0]}},
}


def substitute(value: Any, values: dict[str, Any]) -> Any:
    """The workflow with placeholders replaced (whole-string placeholders keep the value's type)."""
    if isinstance(value, dict):
        return {k: substitute(v, values) for k, v in value.items()}
    if isinstance(value, list):
        return [substitute(v, values) for v in value]
    if isinstance(value, str):
        for name, replacement in values.items():
            token = "{{" + name + "}}"
            if value == token:
                return replacement
            if token in value:
                value = value.replace(token, str(replacement))
    return value


class ComfyUIAdapter(HttpAdapter):
    needs_key = False

    def base_url(self) -> str:
        if not self.engine.base_url:
            raise MisconfiguredError(f"Engine {self.engine.slug} (ComfyUI) has no base URL.")
        return self.engine.base_url.rstrip("/")

    def check(self, response: transport.Response) -> None:
        if 200 <= response.status < 300:
            return
        payload = transport.json_or_none(response) or {}
        if response.status == 400 and ("node_errors" in payload or "error" in payload):
            error = payload.get("error")
            message = error.get("message") if isinstance(error, dict) else error
            raise MisconfiguredError(
                f"ComfyUI rejected the workflow: {message}; node errors: {payload.get('node_errors') or {}}", status=400
            )
        raise transport.status_error(response, f"ComfyUI: HTTP {response.status}: {transport.error_text(response)}")

    def call(self, request: EngineRequest, *, deadline: transport.Deadline, stats: transport.CallStats) -> EngineResult:
        size = sizes.free_size(
            width=request.width, height=request.height, multiple=8, max_side=int(self.params.get("max_side", 2048))
        )
        seed = request.seed if request.seed is not None else 0
        workflow = substitute(
            self.params.get("workflow") or DEFAULT_WORKFLOW,
            {
                "prompt": request.prompt,
                "negative_prompt": request.negative_prompt,
                "seed": seed,
                "width": size.width,
                "height": size.height,
                "model": self.engine.model_id,
            },
        )
        headers = {"Authorization": f"Bearer {self.api_key()}"} if self.engine.api_key_env else {}
        base = self.base_url()
        client_id = uuid.uuid4().hex
        queued = self.send(
            "POST",
            f"{base}/prompt",
            json={"prompt": workflow, "client_id": client_id},
            headers=headers,
            deadline=deadline,
            stats=stats,
        ).json()
        node_errors = queued.get("node_errors") if isinstance(queued, dict) else None
        if node_errors:
            raise MisconfiguredError(
                f"ComfyUI accepted the workflow with node errors (some outputs will not run): {node_errors}"[:2000],
                status=200,
            )
        prompt_id = queued.get("prompt_id") if isinstance(queued, dict) else None
        if not prompt_id:
            raise BadResponseError("ComfyUI's answer to /prompt has no prompt_id.")
        poll = float(self.params.get("poll_interval_s", 0.25))
        polls = 0
        while True:
            history = self.send(
                "GET", f"{base}/history/{prompt_id}", headers=headers, deadline=deadline, stats=stats
            ).json()
            polls += 1
            entry = history.get(prompt_id) if isinstance(history, dict) else None
            if isinstance(entry, dict):
                status = entry.get("status") or {}
                if status.get("status_str") == "error":
                    raise BadResponseError(f"ComfyUI failed to run the workflow: {status.get('messages', '')}"[:500])
                image = self.first_image(entry.get("outputs") or {})
                if image is not None:
                    break
                if status.get("completed"):
                    raise BadResponseError("ComfyUI finished the workflow without an image output.")
            if deadline.remaining() <= poll:
                deadline.check("waiting for ComfyUI")
            time.sleep(min(poll, max(deadline.remaining() - 0.01, 0)))
        query = urlencode(
            {
                "filename": image["filename"],
                "subfolder": image.get("subfolder", ""),
                "type": image.get("type", "output"),
            }
        )
        data = self.send("GET", f"{base}/view?{query}", headers=headers, deadline=deadline, stats=stats).body
        return self.result(
            image=data,
            seed_used=seed,
            request_id=str(prompt_id),
            sent={"size": size.value, "seed": seed, "prompt_id": prompt_id, "polls": polls},
            billing=Billing(model=self.engine.model_id, size=size.value, quality="", n=1),
        )

    @staticmethod
    def first_image(outputs: dict[str, Any]) -> dict[str, Any] | None:
        """The first saved output image; PreviewImage's `type: "temp"` drafts never count."""
        for node in outputs.values():
            for image in (node or {}).get("images", []) if isinstance(node, dict) else []:
                if isinstance(image, dict) and image.get("filename") and image.get("type", "output") == "output":
                    return image
        return None
