from django.db import migrations


def seed(apps, schema_editor):
    """Seed the vendors' current models and mark the retired ones (existing rows keep their edits)."""
    from apps.engines.vendor_seed import vendor_engines_seed

    vendor_engines_seed(apps.get_model("engines", "Engine"))


class Migration(migrations.Migration):
    dependencies = [("engines", "0004_engine_retirement")]

    operations = [migrations.RunPython(seed, migrations.RunPython.noop)]
