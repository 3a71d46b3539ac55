from django.db import migrations, models


def backfill(apps, schema_editor):  # type: ignore[no-untyped-def]
    RenderJob = apps.get_model("renders", "RenderJob")
    for job in RenderJob.objects.only("pk", "texts").iterator():
        RenderJob.objects.filter(pk=job.pk).update(typed_text=" · ".join(str(v) for v in (job.texts or {}).values()))


class Migration(migrations.Migration):
    dependencies = [
        ("renders", "0002_attempt_resent_at"),
    ]

    operations = [
        migrations.AddField(
            model_name="renderjob",
            name="typed_text",
            field=models.TextField(blank=True, default=""),
        ),
        migrations.RunPython(backfill, migrations.RunPython.noop),
    ]
