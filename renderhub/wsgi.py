import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "renderhub.settings")
application = get_wsgi_application()

from apps.core.checks import refuse_unconfigured  # noqa: E402  (needs the app registry)

refuse_unconfigured()
