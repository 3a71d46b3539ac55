"""ComfyUI adapter against the ComfyUI fake: /prompt, /history polling, /view."""

import io

import pytest
from PIL import Image

from apps.engines.adapters.comfyui import DEFAULT_WORKFLOW
from apps.engines.services import engine_generate
from apps.engines.types import BadResponseError, EngineRequest, MisconfiguredError
from tests.engines.conftest import engine_for


def _request(**kw):  # type: ignore[no-untyped-def]
    base = {"prompt": "a castle", "seed": 123, "width": 770, "height": 514, "negative_prompt": "ugly"}
    return EngineRequest(**{**base, **kw})


@pytest.fixture
def comfy(db, comfyui_fake):  # type: ignore[no-untyped-def]
    return engine_for(
        "comfyui",
        comfyui_fake.url,
        model_id="sd_xl_base_1.0.safetensors",
        api_key_env="",
        params={"poll_interval_s": 0.02},
    )


def test_comfyui_substitutes_prompt_seed_and_size_into_the_workflow(comfy, comfyui_fake):
    result = engine_generate(engine=comfy, request=_request())

    post = comfyui_fake.requests[0]
    assert (post.method, post.path) == ("POST", "/prompt")
    workflow = post.json()["prompt"]
    assert workflow["3"]["inputs"]["seed"] == 123
    assert workflow["4"]["inputs"]["ckpt_name"] == "sd_xl_base_1.0.safetensors"
    assert workflow["5"]["inputs"] == {"width": 768, "height": 512, "batch_size": 1}
    assert workflow["6"]["inputs"]["text"] == "a castle"
    assert workflow["7"]["inputs"]["text"] == "ugly"
    assert len(post.json()["client_id"]) == 32
    paths = [r.path for r in comfyui_fake.requests]
    assert paths[1:4] == [f"/history/{result.vendor_request_id}"] * 3  # two pending polls, then done
    assert paths[-1] == "/view"
    assert comfyui_fake.requests[-1].query["type"] == ["output"]
    assert result.seed_used == 123
    assert result.sent["polls"] == 3
    assert Image.open(io.BytesIO(result.image)).size == (770, 514)


def test_comfyui_uses_the_stored_workflow(comfy, comfyui_fake):
    workflow = {k: dict(v) for k, v in DEFAULT_WORKFLOW.items()}
    workflow["6"] = {"class_type": "CLIPTextEncode", "inputs": {"text": "poster, {{prompt}}, 4k", "clip": ["4", 1]}}
    comfy.params = {**comfy.params, "workflow": workflow}

    engine_generate(engine=comfy, request=_request())

    assert comfyui_fake.requests[0].json()["prompt"]["6"]["inputs"]["text"] == "poster, a castle, 4k"


def test_comfyui_node_errors_are_misconfigured(comfy, comfyui_fake):
    comfyui_fake.faults = ["node_errors"]

    with pytest.raises(MisconfiguredError, match="ckpt_name"):
        engine_generate(engine=comfy, request=_request())


def test_comfyui_execution_error_is_a_bad_response(comfy, comfyui_fake):
    comfyui_fake.faults = ["exec_error"]

    with pytest.raises(BadResponseError, match="CUDA out of memory"):
        engine_generate(engine=comfy, request=_request())


def test_comfyui_polling_stops_at_the_deadline(comfy, comfyui_fake):
    comfyui_fake.pending_polls = 10_000
    comfy.deadline_s = 0.6

    from apps.engines.types import RetryableError

    with pytest.raises(RetryableError, match="deadline"):
        engine_generate(engine=comfy, request=_request())


def test_comfyui_takes_the_saved_output_not_the_preview_draft_listed_first(comfy, comfyui_fake):
    comfyui_fake.preview_first = True

    result = engine_generate(engine=comfy, request=_request(width=512, height=512))

    (view,) = [r for r in comfyui_fake.requests if r.path == "/view"]
    assert view.query["type"] == ["output"]
    assert view.query["filename"][0].startswith("renderhub_")
    assert result.billing.pixels == "512x512"


def test_comfyui_node_errors_on_a_200_answer_are_misconfigured(comfy, comfyui_fake):
    comfyui_fake.faults = ["node_errors_200"]

    with pytest.raises(MisconfiguredError, match="lora_name"):
        engine_generate(engine=comfy, request=_request())

    assert [r.path for r in comfyui_fake.requests] == ["/prompt"]
