"""Reads for the template pages: the adapter history and which engines apply the adapter."""

import datetime
from dataclasses import dataclass

from django.db.models import QuerySet

from apps.catalog.models import Adapter, Template, TemplateAdapterChange
from apps.engines.adapter_support import AdapterSupport, engine_adapter_support
from apps.engines.models import Engine


@dataclass(frozen=True)
class EngineAdapterRow:
    engine: Engine
    support: AdapterSupport
    # Set when the engine applies adapters but runs another model than the adapter was trained
    # on (a LoRA fits one base model; on another it fails or distorts). Names are compared
    # without a file extension; shown, never enforced, as model names are free text.
    base_model_note: str = ""


def _stem(name: str) -> str:
    return name.rsplit("/", 1)[-1].removesuffix(".safetensors").removesuffix(".ckpt").strip().lower()


def _base_model_note(engine: Engine, support: AdapterSupport, adapter: Adapter | None) -> str:
    # The built-in simulation has no weights: any known adapter reference "fits" it.
    if adapter is None or not support.supported or engine.simulated or not engine.model_id or not adapter.base_model:
        return ""
    if _stem(engine.model_id) == _stem(adapter.base_model):
        return ""
    return f"runs {engine.model_id}; {adapter.name} was trained on {adapter.base_model}"


def template_adapter_history(*, template: Template) -> QuerySet[TemplateAdapterChange]:
    """The template's adapter changes, newest first, with adapter and author loaded."""
    return template.adapter_changes.select_related("adapter", "changed_by").order_by("-changed_at", "-id")


def template_adapter_at(*, template: Template, when: datetime.datetime) -> TemplateAdapterChange | None:
    """The change in force at `when` (None: no adapter was ever set by then)."""
    return template_adapter_history(template=template).filter(changed_at__lte=when).first()


def engine_adapter_rows(*, adapter: Adapter | None = None) -> list[EngineAdapterRow]:
    """Every enabled engine with whether it applies adapters (and, given the template's
    adapter, whether it runs the base model the adapter fits), appliers first."""
    rows = []
    for engine in Engine.objects.filter(enabled=True):
        support = engine_adapter_support(engine=engine, reference=adapter.reference if adapter else None)
        rows.append(EngineAdapterRow(engine, support, _base_model_note(engine, support, adapter)))
    return sorted(rows, key=lambda r: (not r.support.supported, r.engine.slug))


def adapters_with_use() -> QuerySet[Adapter]:
    """All adapters with the templates using them."""
    return Adapter.objects.prefetch_related("templates")
