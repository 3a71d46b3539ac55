from django.db import migrations


def seed(apps, schema_editor):
    from apps.engines.vendor_seed import vendor_engines_seed

    vendor_engines_seed(apps.get_model("engines", "Engine"))


class Migration(migrations.Migration):
    dependencies = [("engines", "0002_engine_calls")]

    operations = [migrations.RunPython(seed, migrations.RunPython.noop)]
