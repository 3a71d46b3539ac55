from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [("catalog", "0003_adapter_ref_to_adapter")]

    operations = [migrations.RemoveField(model_name="template", name="adapter_ref")]
