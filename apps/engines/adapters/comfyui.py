"""A self-hosted ComfyUI: `POST /prompt`, poll `GET /history/{id}`, fetch `GET /view`.

The workflow (ComfyUI's API format: {node_id: {"class_type", "inputs"}}) is stored in
params["workflow"]; string inputs equal to a placeholder are substituted: "{{prompt}}",
"{{negative_prompt}}", "{{seed}}", "{{width}}", "{{height}}", "{{model}}" (numbers become
numbers), and placeholders inside longer strings are replaced as text. Without a stored
workflow a plain SD text-to-image graph with `model_id` as the checkpoint is used. The seed
is substituted, so it is honoured. Sizes: any, rounded to multiples of 8.
The key, if the engine names one, is sent as a Bearer token (for a proxy in front).

Adapters (`request.adapter_ref` = a LoRA file name in ComfyUI's models/loras): a workflow with
a LoraLoader whose `lora_name` is the "{{lora_name}}" placeholder gets it filled, with
"{{lora_strength}}" as the strength; otherwise a LoraLoader node is inserted after the one
checkpoint loader and every consumer of the checkpoint's MODEL (output 0) and CLIP (output 1)
is rewired to the LoRA's outputs, the VAE (output 2) staying as it was. Without an adapter, a
placeholder LoraLoader is bypassed (its consumers take its inputs). Node shapes from ComfyUI's
nodes.py: CheckpointLoaderSimple returns (MODEL, CLIP, VAE); LoraLoader takes model, clip,
lora_name, strength_model, strength_clip and returns (MODEL, CLIP).

Outputs: only images a SaveImage node wrote (`type: "output"` in /history) are taken;
PreviewImage drafts (`type: "temp"`) are skipped even when listed first. A 200 answer to
`/prompt` with non-empty `node_errors` is a misconfigured workflow (ComfyUI queued only the
valid outputs), as is a 400 with `node_errors`. Billing: one image at the size sent, priced
at the engine's configured price (self-hosted: $0 is allowed).
"""

import copy
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


LORA_PLACEHOLDER = "{{lora_name}}"
CHECKPOINT_LOADERS = ("CheckpointLoaderSimple", "CheckpointLoader")


def _is_link(value: Any) -> bool:
    return isinstance(value, list) and len(value) == 2 and isinstance(value[0], str) and isinstance(value[1], int)


def _rewire(workflow: dict[str, Any], mapping: dict[tuple[str, int], list[Any]], *, skip: str) -> None:
    """Point every input link found in `mapping` at its new source (node `skip` left as is)."""
    for node_id, node in workflow.items():
        if node_id == skip:
            continue
        inputs = node.get("inputs", {})
        for name, value in inputs.items():
            if _is_link(value) and (value[0], value[1]) in mapping:
                inputs[name] = list(mapping[(value[0], value[1])])


def with_lora(workflow: dict[str, Any], *, lora_name: str, strength: float) -> dict[str, Any]:
    """The workflow (a deep copy) with the LoRA applied: the placeholder filled, else a
    LoraLoader inserted between the checkpoint loader and its consumers.

    Raises MisconfiguredError when there is no single checkpoint loader to put it after."""
    graph = copy.deepcopy(workflow)
    placeholders = [nid for nid, node in graph.items() if node.get("inputs", {}).get("lora_name") == LORA_PLACEHOLDER]
    if placeholders:
        return substitute(graph, {"lora_name": lora_name, "lora_strength": strength})
    loaders = [nid for nid, node in graph.items() if node.get("class_type") in CHECKPOINT_LOADERS]
    if len(loaders) != 1:
        raise MisconfiguredError(
            f"Cannot place the LoRA {lora_name!r}: the workflow has {len(loaders)} checkpoint loaders "
            f"(one is needed), and no LoraLoader with lora_name {LORA_PLACEHOLDER!r}."
        )
    ckpt = loaders[0]
    numeric = [int(nid) for nid in graph if nid.isdigit()]
    lora_id = str(max(numeric, default=0) + 1)
    while lora_id in graph:
        lora_id = str(int(lora_id) + 1)
    _rewire(graph, {(ckpt, 0): [lora_id, 0], (ckpt, 1): [lora_id, 1]}, skip=lora_id)
    graph[lora_id] = {
        "class_type": "LoraLoader",
        "inputs": {
            "model": [ckpt, 0],
            "clip": [ckpt, 1],
            "lora_name": lora_name,
            "strength_model": strength,
            "strength_clip": strength,
        },
        "_meta": {"title": "RenderHub template adapter"},
    }
    return graph


def without_lora_placeholders(workflow: dict[str, Any]) -> dict[str, Any]:
    """The workflow with each placeholder LoraLoader removed and its consumers fed its inputs."""
    graph = copy.deepcopy(workflow)
    for nid in [n for n, node in graph.items() if node.get("inputs", {}).get("lora_name") == LORA_PLACEHOLDER]:
        inputs = graph[nid]["inputs"]
        _rewire(graph, {(nid, 0): inputs["model"], (nid, 1): inputs["clip"]}, skip=nid)
        del graph[nid]
    return graph


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
        base_workflow = self.params.get("workflow") or DEFAULT_WORKFLOW
        strength = request.adapter_strength if request.adapter_strength is not None else 1.0
        base_workflow = (
            with_lora(base_workflow, lora_name=request.adapter_ref, strength=strength)
            if request.adapter_ref
            else without_lora_placeholders(base_workflow)
        )
        workflow = substitute(
            base_workflow,
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
            sent={
                "size": size.value,
                "seed": seed,
                "prompt_id": prompt_id,
                "polls": polls,
                **({"lora_name": request.adapter_ref, "lora_strength": strength} if request.adapter_ref else {}),
            },
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
