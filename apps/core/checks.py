"""Start-up refusal of an unconfigured production process.

With DEBUG off, settings leave SECRET_KEY and ALLOWED_HOSTS empty when the environment does not
set them, so that offline tools (`manage.py verify`, `verifier_eval`) run on a bare checkout. Every
process that serves or signs refuses to start instead: Django's system checks (run by `check`,
`migrate`, `runserver` and most commands) report an error, and the WSGI/ASGI entry points and the
Celery worker and beat call `refuse_unconfigured()` before their first request or task.
"""

from typing import Any

from django.conf import settings
from django.core.checks import Error, register
from django.core.exceptions import ImproperlyConfigured


def missing_production_settings() -> list[str]:
    """Names of the settings a DEBUG-off process needs and does not have (empty list if none)."""
    if settings.DEBUG:
        return []
    missing = []
    try:
        settings.SECRET_KEY  # noqa: B018  (Django's lazy getter raises on an empty key)
    except ImproperlyConfigured:
        missing.append("SECRET_KEY")
    if not settings.ALLOWED_HOSTS:
        missing.append("ALLOWED_HOSTS")
    return missing


def refuse_unconfigured() -> None:
    """Raise ImproperlyConfigured naming the missing settings; no-op when DEBUG is on or all are set."""
    missing = missing_production_settings()
    if missing:
        raise ImproperlyConfigured(
            f"Set the {' and '.join(missing)} environment variable{'s' if len(missing) > 1 else ''} "
            "(or DEBUG=true on a development machine)."
        )


@register()
def production_settings_check(app_configs: Any = None, **kwargs: Any) -> list[Error]:
    return [
        Error(f"Set the {name} environment variable (or DEBUG=true on a development machine).", id="core.E001")
        for name in missing_production_settings()
    ]
