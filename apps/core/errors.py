"""Site-wide error pages that answer in the client's format (renderhub/urls.py: handler400 …).

API clients get JSON instead of Django's HTML pages: `{"error": …}` under /api/, OpenAI's
envelope `{"error": {"message", "type", "param", "code"}}` under /v1/ (what its SDKs parse), and
JSON anywhere else when the request says it wants JSON (Accept) or sent JSON (Content-Type).
A body over DATA_UPLOAD_MAX_MEMORY_SIZE reaches Django as RequestDataTooBig, which it answers
as a 400; here it becomes 413 Content Too Large (RFC 9110 §15.5.14), in every format.
"""

from django.core.exceptions import RequestDataTooBig
from django.db import OperationalError
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views import defaults

OPENAI_PREFIX = "/v1/"
API_PREFIX = "/api/"


DATABASE_BUSY_RETRY_AFTER_S = 5
DATABASE_BUSY_MESSAGE = (
    f"The database was busy and this request did not complete. Retry in {DATABASE_BUSY_RETRY_AFTER_S} s "
    "(with the same Idempotency-Key a retry never makes a second job)."
)


def database_busy(exception: BaseException) -> bool:
    """SQLite's "database is locked": its 30 s busy timeout ran out (the embedded default past
    its capacity). PostgreSQL waits on row locks instead, so this is SQLite's alone."""
    return isinstance(exception, OperationalError) and "database is locked" in str(exception)


def client_format(request: HttpRequest) -> str:
    """ "openai", "json" or "html": how this client expects to be answered."""
    if request.path.startswith(OPENAI_PREFIX):
        return "openai"
    if request.path.startswith(API_PREFIX):
        return "json"
    accept = request.headers.get("Accept", "")
    if "application/json" in accept and "text/html" not in accept:
        return "json"
    if request.content_type == "application/json":
        return "json"
    return "html"


def error_response(request: HttpRequest, status: int, message: str, *, code: str | None = None) -> HttpResponse:
    """`message` with `status` in the client's format (plain HTML for browsers)."""
    kind = client_format(request)
    if kind == "openai":
        error_type = "server_error" if status >= 500 else "invalid_request_error"
        body = {"error": {"message": message, "type": error_type, "param": None, "code": code}}
        return JsonResponse(body, status=status)
    if kind == "json":
        return JsonResponse({"error": message}, status=status)
    return HttpResponse(f"<!doctype html><title>{status}</title><h1>{message}</h1>", status=status)


def bad_request(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    if isinstance(exception, RequestDataTooBig):
        return error_response(request, 413, "The request body is too large.", code="body_too_large")
    if client_format(request) == "html":
        return defaults.bad_request(request, exception)  # type: ignore[arg-type]
    return error_response(request, 400, "Bad request.")


def permission_denied(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    if client_format(request) == "html":
        return defaults.permission_denied(request, exception)  # type: ignore[arg-type]
    return error_response(request, 403, str(exception or "") or "Forbidden.")


def page_not_found(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    if client_format(request) == "html":
        return defaults.page_not_found(request, exception)  # type: ignore[arg-type]
    return error_response(request, 404, "Not found.", code="not_found")


def server_error(request: HttpRequest) -> HttpResponse:
    if client_format(request) == "html":
        return defaults.server_error(request)
    return error_response(request, 500, "Internal server error; the error was logged.", code="server_error")
