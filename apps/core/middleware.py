"""Middleware shared by every page."""

import logging
from collections.abc import Callable
from urllib.parse import urlencode, urlsplit

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.shortcuts import resolve_url
from django_htmx.http import HttpResponseClientRedirect

from apps.core.errors import DATABASE_BUSY_MESSAGE, DATABASE_BUSY_RETRY_AFTER_S, database_busy, error_response

logger = logging.getLogger(__name__)


class HtmxLoginRedirectMiddleware:
    """An htmx request whose session has expired gets `HX-Redirect` to the login page.

    Without it, the browser's XHR follows the view's 302 and htmx swaps the whole login page
    into the element that asked (a job card that polls, a form), and polling dies. `next` is
    the page the person was on (`HX-Current-URL`, path and query only), not the partial's URL.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        if not getattr(request, "htmx", False) or response.status_code not in (301, 302):
            return response
        login = resolve_url(settings.LOGIN_URL)
        if urlsplit(response.get("Location", "")).path != login:
            return response
        current = urlsplit(request.headers.get("HX-Current-URL", "") or request.get_full_path())
        target = current.path + (f"?{current.query}" if current.query else "")
        if not target.startswith("/") or target.startswith("//"):
            target = "/"
        return HttpResponseClientRedirect(f"{login}?{urlencode({'next': target})}")


class DatabaseBusyMiddleware:
    """SQLite's busy timeout running out (`errors.database_busy`) answers 503 with Retry-After in
    the client's format, not a bare 500. The request's transaction was rolled back."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        return self.get_response(request)

    def process_exception(self, request: HttpRequest, exception: Exception) -> HttpResponse | None:
        if not database_busy(exception):
            return None
        logger.warning("database busy on %s %s: answered 503", request.method, request.path)
        response = error_response(request, 503, DATABASE_BUSY_MESSAGE, code="database_busy")
        response["Retry-After"] = str(DATABASE_BUSY_RETRY_AFTER_S)
        return response
