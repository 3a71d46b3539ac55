import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "renderhub.settings")
application = get_asgi_application()

from apps.core.checks import refuse_unconfigured  # noqa: E402  (needs the app registry)

refuse_unconfigured()
