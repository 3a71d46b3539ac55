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


def template_adapter_history(*, template: Template) -> QuerySet[TemplateAdapterChange]:
    """The template's adapter changes, newest first, with adapter and author loaded."""
    return template.adapter_changes.select_related("adapter", "changed_by").order_by("-changed_at", "-id")


def template_adapter_at(*, template: Template, when: datetime.datetime) -> TemplateAdapterChange | None:
    """The change in force at `when` (None: no adapter was ever set by then)."""
    return template_adapter_history(template=template).filter(changed_at__lte=when).first()


def engine_adapter_rows() -> list[EngineAdapterRow]:
    """Every enabled engine with whether it applies adapters, appliers first."""
    rows = [EngineAdapterRow(e, engine_adapter_support(engine=e)) for e in Engine.objects.filter(enabled=True)]
    return sorted(rows, key=lambda r: (not r.support.supported, r.engine.slug))


def adapters_with_use() -> QuerySet[Adapter]:
    """All adapters with the templates using them."""
    return Adapter.objects.prefetch_related("templates")
