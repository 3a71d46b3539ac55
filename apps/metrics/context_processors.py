from django.http import HttpRequest
from django.utils.functional import SimpleLazyObject

from apps.metrics.queue_health import worker_alert as _worker_alert


def worker_alert(request: HttpRequest) -> dict[str, object]:
    """`worker_alert` for the banner in base.html: work that no live worker will pick up.
    Lazy (a page that does not render the banner pays nothing) and cached a few seconds."""
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {}
    return {"worker_alert": SimpleLazyObject(lambda: _worker_alert() or False)}
