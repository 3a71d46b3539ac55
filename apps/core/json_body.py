"""Reading a JSON request body safely: every hostile body becomes a `BodyError` (a 4xx), never a 500.

What Python's `json` module lets through and what then crashes further down:
- integers of more than 4,300 digits raise ValueError on conversion (CPython's int_max_str_digits,
  https://docs.python.org/3/library/stdtypes.html#int-max-str-digits); far shorter ones already
  overflow every integer column, so integers are limited to `MAX_INT_DIGITS` digits while parsing;
- nesting 100,000 deep raises RecursionError inside the decoder;
- NUL characters and lone surrogates (`"\\ud800"`) decode fine but PostgreSQL refuses NUL in text
  and no encoder accepts a lone surrogate, so they are refused in every string, keys included;
- `NaN` and `Infinity` are not JSON (RFC 8259 §6) and are refused;
- a body over `DATA_UPLOAD_MAX_MEMORY_SIZE` (Django's 2.5 MB default) is refused with 413.
"""

import json
import re
from typing import Any

from django.core.exceptions import RequestDataTooBig
from django.http import HttpRequest

MAX_DEPTH = 32  # arrays/objects inside each other
MAX_INT_DIGITS = 20  # 2**64 has 20 digits
_BAD_CHARS = re.compile("[\x00\ud800-\udfff]")


class BodyError(Exception):
    """The body cannot be used; `status` is the HTTP status to answer, `field` the place (dotted)."""

    def __init__(self, status: int, message: str, *, field: str | None = None):
        super().__init__(message)
        self.status, self.message, self.field = status, message, field


def _parse_int(text: str) -> int:
    digits = len(text.lstrip("-"))
    if digits > MAX_INT_DIGITS:
        raise BodyError(400, f"An integer has {digits} digits; at most {MAX_INT_DIGITS} are accepted.")
    return int(text)


def _parse_constant(name: str) -> Any:
    raise BodyError(400, f"{name} is not a JSON value.")


def _check_tree(data: Any, *, max_string_chars: int | None) -> None:
    """Walk the decoded value without recursion: depth, and every string (keys too)."""
    stack: list[tuple[Any, str, int]] = [(data, "", 0)]
    while stack:
        value, path, depth = stack.pop()
        if isinstance(value, str):
            bad = _BAD_CHARS.search(value)
            if bad:
                what = "a NUL character" if bad.group() == "\x00" else "a lone surrogate (not Unicode text)"
                raise BodyError(400, f"{path or 'The body'} contains {what} at position {bad.start()}.", field=path)
            if max_string_chars is not None and len(value) > max_string_chars:
                raise BodyError(
                    400, f"{path or 'The body'} has {len(value)} characters; at most {max_string_chars}.", field=path
                )
        elif isinstance(value, dict | list):
            if depth >= MAX_DEPTH:
                raise BodyError(400, f"The body is nested more than {MAX_DEPTH} levels deep.", field=path or None)
            items = value.items() if isinstance(value, dict) else enumerate(value)
            for key, item in items:
                child = f"{path}.{key}" if path else str(key)
                if isinstance(key, str):
                    stack.append((key, child, depth + 1))
                stack.append((item, child, depth + 1))


def read_json_body(
    request: HttpRequest, *, max_string_chars: int | None = None, require_content_type: bool = True
) -> Any:
    """The decoded JSON body of `request` (any JSON value), checked as the module docstring says.

    `max_string_chars` caps every string in the body (a coarse limit for endpoints that check
    their fields by hand). Raises BodyError: 415 when the body is not declared JSON, 413 when it
    is too large, 400 for anything that is not usable JSON text. `require_content_type=False`
    reads the body as JSON whatever its declared type (clients that omit the header).
    """
    if require_content_type and request.content_type != "application/json":
        raise BodyError(415, "Send JSON with Content-Type: application/json.")
    try:
        raw = request.body
    except RequestDataTooBig as exc:
        raise BodyError(413, "The body is too large.") from exc
    try:
        text = raw.decode("utf-8") if raw else "null"
    except UnicodeDecodeError as exc:
        raise BodyError(400, f"The body is not UTF-8 text (byte {exc.start}).") from exc
    try:
        data = json.loads(text, parse_int=_parse_int, parse_constant=_parse_constant)
    except RecursionError as exc:
        raise BodyError(400, f"The body is nested more than {MAX_DEPTH} levels deep.") from exc
    except json.JSONDecodeError as exc:
        raise BodyError(400, f"The body is not valid JSON: {exc}.") from exc
    except ValueError as exc:  # a float literal too large to convert, and the like
        raise BodyError(400, f"The body is not valid JSON: {exc}.") from exc
    _check_tree(data, max_string_chars=max_string_chars)
    return data
