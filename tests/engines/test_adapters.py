"""Template adapters (LoRAs) at the engine layer: which kinds apply them, and how each sends them.

ComfyUI's workflow is checked by the fake, which validates the node graph the way ComfyUI does
(links to existing nodes and outputs of the right type, LoraLoader's five inputs, lora_name in
models/loras): tests/engines/fakes.py `comfy_graph_errors`.
"""

import json

import pytest

from apps.engines.adapter_support import engine_adapter_support
from apps.engines.adapters.builtin import SIMULATED_ADAPTERS, BuiltinAdapter
from apps.engines.adapters.comfyui import DEFAULT_WORKFLOW, with_lora, without_lora_placeholders
from apps.engines.management.commands.engine_server import parse_body
from apps.engines.models import AdapterKind, Engine
from apps.engines.services import engine_generate
from apps.engines.types import EngineRequest, MisconfiguredError
from tests.engines.conftest import engine_for
from tests.engines.fakes import comfy_graph_errors

LORA = "cover_typography_v1.safetensors"
SIM_LORA = "renderhub-sim/typography-lora"


def _request(**kw):  # type: ignore[no-untyped-def]
    base = {"prompt": 'a cover titled "SUMMER SALE"', "seed": 11, "width": 768, "height": 512}
    return EngineRequest(**{**base, **kw})


@pytest.fixture
def comfy(db, comfyui_fake):  # type: ignore[no-untyped-def]
    params = {"poll_interval_s": 0.02}
    return engine_for("comfyui", comfyui_fake.url, model_id="sd_xl_base_1.0.safetensors", api_key_env="", params=params)


@pytest.mark.parametrize(
    ("kind", "supported"),
    [
        (AdapterKind.COMFYUI, True),
        (AdapterKind.HTTP, True),
        (AdapterKind.BUILTIN, True),
        (AdapterKind.OPENAI, False),
        (AdapterKind.IMAGEN, False),
        (AdapterKind.GEMINI, False),
        (AdapterKind.STABILITY, False),
        (AdapterKind.IDEOGRAM, False),
    ],
)
def test_adapter_support_by_engine_kind(kind, supported):
    support = engine_adapter_support(engine=Engine(slug="e", name="E", adapter=kind))

    assert support.supported is supported
    assert support.how


def test_adapter_support_can_be_switched_off_per_engine_not_on():
    off = Engine(slug="e", name="E", adapter=AdapterKind.HTTP, capabilities={"adapters": False})
    on = Engine(slug="o", name="O", adapter=AdapterKind.OPENAI, capabilities={"adapters": True})

    assert engine_adapter_support(engine=off).supported is False
    assert "capabilities.adapters" in engine_adapter_support(engine=off).how
    assert engine_adapter_support(engine=on).supported is False


def test_comfyui_inserts_a_lora_loader_the_fake_comfyui_accepts(comfy, comfyui_fake):
    engine_generate(engine=comfy, request=_request(adapter_ref=LORA, adapter_strength=0.8))

    (graph,) = comfyui_fake.accepted
    (lora_id,) = [nid for nid, node in graph.items() if node["class_type"] == "LoraLoader"]
    assert graph[lora_id]["inputs"] == {
        "model": ["4", 0],
        "clip": ["4", 1],
        "lora_name": LORA,
        "strength_model": 0.8,
        "strength_clip": 0.8,
    }
    assert graph["3"]["inputs"]["model"] == [lora_id, 0]  # the sampler takes the LoRA's model
    assert graph["6"]["inputs"]["clip"] == [lora_id, 1]  # both prompts take the LoRA's clip
    assert graph["7"]["inputs"]["clip"] == [lora_id, 1]
    assert graph["8"]["inputs"]["vae"] == ["4", 2]  # the VAE still comes from the checkpoint
    assert comfy_graph_errors(graph, loras=comfyui_fake.loras) == {}


def test_comfyui_without_adapter_sends_no_lora_node(comfy, comfyui_fake):
    engine_generate(engine=comfy, request=_request())

    (graph,) = comfyui_fake.accepted
    assert [n for n in graph.values() if n["class_type"] == "LoraLoader"] == []


def test_comfyui_fills_a_lora_placeholder_in_a_stored_workflow(comfy, comfyui_fake):
    workflow = json.loads(json.dumps(DEFAULT_WORKFLOW))
    workflow["10"] = {
        "class_type": "LoraLoader",
        "inputs": {
            "model": ["4", 0],
            "clip": ["4", 1],
            "lora_name": "{{lora_name}}",
            "strength_model": "{{lora_strength}}",
            "strength_clip": "{{lora_strength}}",
        },
    }
    workflow["3"]["inputs"]["model"] = ["10", 0]
    workflow["6"]["inputs"]["clip"] = ["10", 1]
    workflow["7"]["inputs"]["clip"] = ["10", 1]
    comfy.params = {**comfy.params, "workflow": workflow}

    engine_generate(engine=comfy, request=_request(adapter_ref=LORA, adapter_strength=0.6))
    engine_generate(engine=comfy, request=_request())

    with_it, without_it = comfyui_fake.accepted
    assert with_it["10"]["inputs"]["lora_name"] == LORA
    assert with_it["10"]["inputs"]["strength_model"] == 0.6
    assert len([n for n in with_it.values() if n["class_type"] == "LoraLoader"]) == 1  # filled, not added
    assert "10" not in without_it  # bypassed: its consumers take the checkpoint's outputs
    assert without_it["3"]["inputs"]["model"] == ["4", 0]
    assert without_it["6"]["inputs"]["clip"] == ["4", 1]


def test_comfyui_fake_refuses_a_broken_lora_graph(comfy, comfyui_fake):
    """The fake is a real check: the graph a wrong insertion would send is refused."""
    graph = with_lora(DEFAULT_WORKFLOW, lora_name=LORA, strength=1.0)
    lora_id = next(nid for nid, n in graph.items() if n["class_type"] == "LoraLoader")
    graph[lora_id]["inputs"]["clip"] = ["4", 2]  # the VAE, not the CLIP
    graph["3"]["inputs"]["model"] = ["99", 0]  # a node that does not exist
    del graph[lora_id]["inputs"]["strength_clip"]

    errors = comfy_graph_errors(graph, loras=comfyui_fake.loras)

    assert errors[lora_id][0] == "clip: needs CLIP, linked to VAE"
    assert any("LoraLoader inputs are" in e for e in errors[lora_id])
    assert errors["3"] == ["model: links to node '99', which does not exist"]


def test_comfyui_unknown_lora_file_is_misconfigured(comfy, comfyui_fake):
    with pytest.raises(MisconfiguredError, match="Value not in list: lora_name"):
        engine_generate(engine=comfy, request=_request(adapter_ref="missing.safetensors"))


def test_comfyui_lora_needs_one_checkpoint_loader():
    workflow = {k: v for k, v in DEFAULT_WORKFLOW.items() if k != "4"}

    with pytest.raises(MisconfiguredError, match="0 checkpoint loaders"):
        with_lora(workflow, lora_name=LORA, strength=1.0)


def test_comfyui_lora_insertion_leaves_the_stored_workflow_untouched():
    before = json.dumps(DEFAULT_WORKFLOW, sort_keys=True)

    with_lora(DEFAULT_WORKFLOW, lora_name=LORA, strength=1.0)
    without_lora_placeholders(DEFAULT_WORKFLOW)

    assert json.dumps(DEFAULT_WORKFLOW, sort_keys=True) == before


def test_http_sends_adapter_and_strength(db, generic_fake):
    engine = engine_for("http", generic_fake.url + "/generate", api_key_env="")

    result = engine_generate(engine=engine, request=_request(adapter_ref="cover-v1", adapter_strength=0.7))

    body = generic_fake.requests[0].json()
    assert (body["adapter"], body["adapter_strength"]) == ("cover-v1", 0.7)
    assert (result.sent["adapter"], result.sent["adapter_strength"]) == ("cover-v1", 0.7)


def test_http_without_adapter_sends_no_adapter_fields(db, generic_fake):
    engine = engine_for("http", generic_fake.url + "/generate", api_key_env="")

    engine_generate(engine=engine, request=_request())

    assert "adapter" not in generic_fake.requests[0].json()


def test_builtin_known_adapter_lowers_the_simulated_typo_rate():
    engine = Engine(slug="sim", name="Sim", adapter="builtin", params={"typo_rate": 0.5})
    adapter = BuiltinAdapter(engine)

    _, plain = adapter.render(_request())
    _, tuned = adapter.render(_request(adapter_ref=SIM_LORA, adapter_strength=1.0))
    _, unknown = adapter.render(_request(adapter_ref="nobody-knows", adapter_strength=1.0))

    assert plain["typo_rate"] == 0.5
    assert tuned["typo_rate"] == pytest.approx(0.5 * SIMULATED_ADAPTERS[SIM_LORA])
    assert tuned["adapter"].startswith("simulated adapter")
    assert unknown["typo_rate"] == 0.5
    assert "no effect" in unknown["adapter"]


def test_builtin_adapter_never_adds_a_typo_on_the_same_seed():
    """Same seed, same composition: with the adapter a seed can only lose its typo."""
    adapter = BuiltinAdapter(Engine(slug="sim", name="Sim", adapter="builtin", params={"typo_rate": 0.6}))
    without = [bool(adapter.render(_request(seed=s))[1]["injected_typos"]) for s in range(40)]
    with_it = [bool(adapter.render(_request(seed=s, adapter_ref=SIM_LORA))[1]["injected_typos"]) for s in range(40)]

    assert all(w <= wo for w, wo in zip(with_it, without, strict=True))
    assert sum(with_it) < sum(without)


def test_engine_server_reads_adapter_fields():
    request = parse_body(json.dumps({"prompt": "p", "seed": 1, "size": "512x512", "adapter": SIM_LORA}).encode())

    assert (request.adapter_ref, request.adapter_strength) == (SIM_LORA, 1.0)
    with pytest.raises(ValueError, match="adapter_strength"):
        parse_body(b'{"prompt": "p", "adapter": "x", "adapter_strength": "high"}')
