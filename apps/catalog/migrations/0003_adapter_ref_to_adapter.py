"""Move each template's free-text `adapter_ref` onto an Adapter row, keeping the data.

Templates sharing a reference share one Adapter. The base model is unknown from a bare
reference, so it is recorded as "unknown (from adapter_ref)" for an admin to correct; each
template gets a first history row saying where its adapter came from. Reversible: going back
copies the adapter's reference into `adapter_ref`.
"""

from django.db import migrations
from django.utils import timezone
from django.utils.text import slugify


def forwards(apps, schema_editor):
    Template = apps.get_model("catalog", "Template")
    Adapter = apps.get_model("catalog", "Adapter")
    Change = apps.get_model("catalog", "TemplateAdapterChange")
    now = timezone.now()
    by_ref = {}
    for template in Template.objects.exclude(adapter_ref="").order_by("pk"):
        ref = template.adapter_ref.strip()
        if not ref:
            continue
        adapter = by_ref.get(ref)
        if adapter is None:
            base = slugify(ref.rsplit("/", 1)[-1].rsplit(".", 1)[0])[:40] or "adapter"
            slug, n = base, 1
            while Adapter.objects.filter(slug=slug).exists():
                n += 1
                slug = f"{base}-{n}"
            adapter = Adapter.objects.create(
                slug=slug,
                name=ref[:100],
                base_model="unknown (from adapter_ref)",
                reference=ref,
                default_strength=1.0,
                notes="Created by migration from the template's former adapter_ref field.",
            )
            by_ref[ref] = adapter
        template.adapter = adapter
        template.save(update_fields=["adapter"])
        Change.objects.create(
            template=template, adapter=adapter, strength=None, changed_at=now, note="Migrated from adapter_ref."
        )


def backwards(apps, schema_editor):
    Template = apps.get_model("catalog", "Template")
    for template in Template.objects.exclude(adapter=None).select_related("adapter"):
        template.adapter_ref = template.adapter.reference[:200]
        template.save(update_fields=["adapter_ref"])


class Migration(migrations.Migration):
    dependencies = [("catalog", "0002_adapters")]

    operations = [migrations.RunPython(forwards, backwards)]
