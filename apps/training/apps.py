from django.apps import AppConfig


class TrainingConfig(AppConfig):
    name = "apps.training"
    label = "training"

    def ready(self) -> None:
        # Registers `training.export` in every process: services send it by name.
        from apps.training import tasks  # noqa: F401
