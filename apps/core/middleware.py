"""Middleware shared by every page."""

from collections.abc import Callable
from urllib.parse import urlencode, urlsplit

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.shortcuts import resolve_url
from django_htmx.http import HttpResponseClientRedirect


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
