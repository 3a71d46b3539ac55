from django.apps import AppConfig


class CoreConfig(AppConfig):
    name = "apps.core"
    label = "core"

    def ready(self) -> None:
        # Celery signal receivers: worker heartbeats, and the publish-time header that gives a
        # Redis queue's oldest message an age.
        from apps.core import checks, heartbeats, queues  # noqa: F401
