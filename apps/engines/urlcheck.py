"""Which URLs an engine may call: the SSRF guard shared by the model and the transport.

`settings.RENDERHUB_ENGINE_HOST_ALLOWLIST` lists hosts (`api.openai.com`), wildcard domains
(`*.aiplatform.googleapis.com`, which does not match the bare domain), a glob in the first
label (`*-aiplatform.googleapis.com`, Vertex AI's regional hosts) and `*` (any public host).
An explicitly listed host is trusted as written, so a loopback fake or a self-hosted ComfyUI
on a private address must be listed by name or address. Anything reached through `*` must be
https and public: IP literals and names resolving to loopback, private, link-local, reserved or
multicast addresses are refused (that is the SSRF case: cloud metadata, the database, Redis).
"""

import fnmatch
import ipaddress
import socket
from urllib.parse import urlsplit

from django.conf import settings
from django.core.exceptions import ValidationError

ALLOWED_SCHEMES = ("https", "http")


def _internal(address: str) -> bool:
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped:
        ip = ip.ipv4_mapped
    return not ip.is_global or ip.is_multicast


def _explicitly_allowed(host: str, allowlist: list[str]) -> bool:
    for entry in allowlist:
        entry = entry.strip().lower().strip("[]")
        if not entry or entry == "*":
            continue
        if entry.startswith("*."):
            if host.endswith(entry[1:]) and host != entry[2:]:
                return True
        elif "*" in entry.split(".", 1)[0]:
            # A glob in the first label only: "*-aiplatform.googleapis.com" matches Vertex's
            # regional hosts (us-central1-aiplatform.googleapis.com), which "*." cannot.
            first, _, rest = entry.partition(".")
            host_first, _, host_rest = host.partition(".")
            if host_rest == rest and fnmatch.fnmatchcase(host_first, first):
                return True
        elif host == entry:
            return True
    return False


def url_problem(url: str, *, allowlist: list[str] | None = None, resolve: bool = True) -> str | None:
    """Why `url` may not be called, in plain words, or None when it may.

    `resolve` looks the name up for hosts admitted only through `*`; the transport does it
    on every call, form validation too (a name that does not resolve yet is let through and
    checked again at call time).
    """
    allowlist = list(settings.RENDERHUB_ENGINE_HOST_ALLOWLIST if allowlist is None else allowlist)
    try:
        parts = urlsplit(url)
        host = (parts.hostname or "").lower()
        _ = parts.port
    except ValueError:
        return f"{url!r} is not a valid URL."
    if parts.scheme not in ALLOWED_SCHEMES:
        return f"Only http and https URLs are allowed (got {parts.scheme or 'none'!r})."
    if not host:
        return "The URL has no host."
    if parts.username or parts.password:
        return "Credentials in the URL are not allowed; name the key's environment variable instead."
    if _explicitly_allowed(host, allowlist):
        return None
    if "*" not in allowlist:
        return f"Host {host!r} is not in RENDERHUB_ENGINE_HOST_ALLOWLIST."
    if parts.scheme != "https":
        # Keys travel in headers: plain http only to hosts someone listed by name.
        return f"Host {host!r} is allowed only through '*', which requires https."
    if host == "localhost" or host.endswith(".localhost"):
        return f"Host {host!r} is internal; list it explicitly in RENDERHUB_ENGINE_HOST_ALLOWLIST to allow it."
    try:
        literal = _internal(host)
    except ValueError:
        literal = None
    if literal is True:
        return f"Address {host!r} is internal; list it explicitly in RENDERHUB_ENGINE_HOST_ALLOWLIST to allow it."
    if literal is None and resolve:
        try:
            infos = socket.getaddrinfo(host, parts.port or 443, proto=socket.IPPROTO_TCP)
        except OSError:
            return None  # unresolvable now; the transport checks again before each call
        for info in infos:
            if _internal(str(info[4][0])):
                return f"Host {host!r} resolves to an internal address ({info[4][0]})."
    return None


def validate_engine_url(value: str) -> None:
    """Field validator for Engine.base_url (also used by importers through full_clean)."""
    if not value:
        return
    problem = url_problem(value)
    if problem:
        raise ValidationError(problem, code="url_not_allowed")
