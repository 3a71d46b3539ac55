from django.apps import AppConfig


class RendersConfig(AppConfig):
    name = "apps.renders"
    label = "renders"

    def ready(self) -> None:
        # Registers the Celery tasks in every process (web too): the pipeline sends them by
        # name (apps/renders/pipeline/enqueue.py) instead of importing this module.
        from apps.renders import tasks  # noqa: F401
