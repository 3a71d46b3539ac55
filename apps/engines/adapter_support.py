"""Which engines can apply a template's adapter (a LoRA or a vendor's fine-tuned model), and how.

Support is a property of the engine kind (the wire format: does the protocol have a place for an
adapter?), which an engine can switch off with `capabilities: {"adapters": false}` (a generic
HTTP server that ignores the field, a ComfyUI without the LoRA files). It cannot be switched on
for a kind whose adapter code sends nothing.

Vendors (research/engines.md, as of 2026-11): none of the hosted image APIs RenderHub speaks takes
a LoRA or a customer's fine-tuned model id on its generate call — OpenAI Images
(`/v1/images/generations`: model is one of OpenAI's), Imagen 4 (`:predict`, Gemini API and
Vertex AI), Gemini image (`:generateContent`), Stability SD3.5 (`generate/sd3`: `model` is one of
sd3.5-large / -large-turbo / -medium) and Ideogram (V2/V3/V4). fal.ai's `flux-lora` takes
`loras: [{path, scale}]` (§5.1) but RenderHub has no fal adapter. So only ComfyUI, the generic
HTTP protocol and the built-in simulation apply adapters; on the others the pages and the
attempt say "not applied".
"""

from dataclasses import dataclass

from apps.engines.models import AdapterKind, Engine

# kind -> how an adapter is applied; a kind missing here cannot apply one.
APPLIES: dict[str, str] = {
    AdapterKind.COMFYUI: "a LoraLoader node (model and clip strength) in its workflow, or its {{lora_name}} slot",
    AdapterKind.HTTP: "the protocol's `adapter` and `adapter_strength` fields",
    AdapterKind.BUILTIN: "SIMULATED: a known adapter reference lowers the simulation's typo rate",
}

WHY_NOT: dict[str, str] = {
    AdapterKind.OPENAI: "OpenAI's Images API takes no LoRA or fine-tuned image model.",
    AdapterKind.IMAGEN: "Imagen 4's :predict (Gemini API and Vertex AI) takes no LoRA or tuned model id.",
    AdapterKind.GEMINI: "Gemini image generation takes no LoRA or tuned model id.",
    AdapterKind.STABILITY: "Stability's SD3.5 API takes only its own models, no LoRA.",
    AdapterKind.IDEOGRAM: "Ideogram's API takes no LoRA or fine-tuned model.",
}


@dataclass(frozen=True)
class AdapterSupport:
    supported: bool
    how: str  # how it is applied, or why it cannot be


def simulation_adapter_references(engine: Engine) -> set[str]:
    """The adapter references a built-in simulation knows (SIMULATED_ADAPTERS and its
    `params.adapters`); any other reference has no effect on its typo rate."""
    from apps.engines.adapters.builtin import SIMULATED_ADAPTERS

    extra = (engine.params or {}).get("adapters")
    return {*SIMULATED_ADAPTERS, *(extra if isinstance(extra, dict) else {})}


def engine_adapter_support(*, engine: Engine, reference: str | None = None) -> AdapterSupport:
    """Whether `engine` applies adapters (given `reference`, that adapter), and a sentence for
    the pages. The built-in simulation applies only the references it knows: it ignores any
    other (`BuiltinAdapter.adapter_factor`), so that one is not applied there."""
    how = APPLIES.get(engine.adapter)
    if how is None:
        return AdapterSupport(False, WHY_NOT.get(engine.adapter, f"Engines of kind {engine.adapter} take no adapter."))
    if (engine.capabilities or {}).get("adapters") is False:
        return AdapterSupport(False, f"{engine.name} is configured without adapter support (capabilities.adapters).")
    if engine.adapter == AdapterKind.BUILTIN and reference is not None:
        known = simulation_adapter_references(engine)
        if reference not in known:
            return AdapterSupport(
                False,
                f"The simulation knows only {', '.join(sorted(known))}; it ignores {reference!r}.",
            )
    return AdapterSupport(True, how)
