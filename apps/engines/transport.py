"""The one way adapters talk HTTP: a reused client, deadlines, capped bodies, retries, slots.

- One `httpx.Client` per worker process, made lazily on first use after the fork (a new
  client per call costs ~50 ms of CPU, research/performance.md F3). Redirects are never
  followed: a 3xx is a bad response.
- Connect/read timeouts per operation *and* an overall deadline per engine call: every
  operation's timeout is capped by the time left, the body is read in chunks with the
  deadline checked after each one, and a watchdog timer shuts the socket down when the
  deadline passes mid-body, so neither a one-byte drip nor a send-then-stall server can
  hold a worker past the deadline.
- Body byte cap counted on decoded bytes (`iter_bytes`), so a gzip bomb trips it. (httpx
  decodes one network read at a time, so the peak before the check is one read's expansion,
  at most ~1000 × 64 KiB; the bomb is refused, not held.)
- A POST to a paid engine that reached the vendor and got no answer (read timeout, dropped
  connection, 2xx body cut at the deadline) is "possibly billed" and is not sent again: a
  second request could be billed a second time. The error says so (`possibly_billed`) and
  the pipeline records the attempt's price as unknown.
- Retries only for retryable errors: exponential backoff with full jitter, or the server's
  `retry-after-ms` / `Retry-After` header or a `google.rpc.RetryInfo.retryDelay` in the
  error body when given, up to a cap; a longer wait is not retried
  here (the error keeps `retry_after` for the caller). Never past the deadline.
- Images: PNG, JPEG or WebP by magic bytes, then Pillow restricted to that format, with a
  pixel cap and decompression-bomb warnings raised as errors.
- Engine slots: a per-engine concurrency limit that holds across all workers: a Redis
  sorted-set semaphore when the broker is Redis, else flock()ed slot files under VAR_DIR
  (the embedded default runs on one machine). Slots expire/are released if a worker dies.
"""

import contextlib
import email.utils
import fcntl
import os
import random
import re
import socket
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from django.conf import settings

from apps.core.images import ImageLoadError, open_image
from apps.engines.pricing import zero_price_allowed
from apps.engines.types import BadResponseError, EngineError, MisconfiguredError, RetryableError
from apps.engines.urlcheck import url_problem

DEFAULT_MAX_BODY_BYTES = 40 * 1024 * 1024
ERROR_BODY_BYTES = 256 * 1024
USER_AGENT = "RenderHub/0.1 (+engines)"
IMAGE_FORMATS = {"PNG": "image/png", "JPEG": "image/jpeg", "WEBP": "image/webp"}


# --- client per process ---------------------------------------------------------------

_client: httpx.Client | None = None
_client_pid: int | None = None
_client_lock = threading.Lock()


def client() -> httpx.Client:
    """This process's client, created on first use (so after a prefork worker forks)."""
    global _client, _client_pid
    pid = os.getpid()
    if _client is None or _client_pid != pid:
        with _client_lock:
            if _client is None or _client_pid != pid:
                _client = httpx.Client(
                    follow_redirects=False,
                    headers={"User-Agent": USER_AGENT},
                    limits=httpx.Limits(max_connections=100, max_keepalive_connections=20),
                    trust_env=False,
                )
                _client_pid = pid
    return _client


# --- call policy and deadline ---------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class CallPolicy:
    connect_timeout_s: float = 5.0
    read_timeout_s: float = 60.0
    deadline_s: float = 120.0
    max_retries: int = 2
    backoff_base_s: float = 0.5
    backoff_cap_s: float = 8.0
    retry_after_cap_s: float = 30.0
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES
    max_pixels: int = 0  # 0: settings.RENDERHUB_MAX_PIXELS
    paid: bool = False  # a vendor that bills per call: a possibly billed POST is not sent again

    @classmethod
    def for_engine(cls, engine: Any) -> "CallPolicy":
        params = engine.params or {}
        return cls(
            paid=not zero_price_allowed(engine),
            connect_timeout_s=float(engine.connect_timeout_s),
            read_timeout_s=float(engine.read_timeout_s),
            deadline_s=float(engine.deadline_s),
            max_retries=int(engine.max_retries),
            backoff_base_s=float(params.get("backoff_base_s", 0.5)),
            backoff_cap_s=float(params.get("backoff_cap_s", 8.0)),
            retry_after_cap_s=float(params.get("retry_after_cap_s", 30.0)),
            max_body_bytes=int(params.get("max_body_bytes", DEFAULT_MAX_BODY_BYTES)),
        )


class Deadline:
    def __init__(self, seconds: float):
        self.seconds = seconds
        self.expires = time.monotonic() + seconds

    def remaining(self) -> float:
        return self.expires - time.monotonic()

    def check(self, what: str) -> float:
        left = self.remaining()
        if left <= 0:
            raise RetryableError(f"The engine call passed its {self.seconds:g} s deadline ({what}).")
        return left


@dataclass(kw_only=True)
class Response:
    status: int
    headers: httpx.Headers
    body: bytes
    url: str
    timings_ms: dict[str, float] = field(default_factory=dict)

    def json(self) -> Any:
        import json

        try:
            return json.loads(self.body)
        except ValueError as exc:
            raise BadResponseError(
                f"The engine answered {self.status} with malformed JSON.", status=self.status
            ) from exc

    @property
    def content_type(self) -> str:
        return self.headers.get("content-type", "").split(";")[0].strip().lower()


@dataclass
class CallStats:
    """What one engine call cost on the wire, across its requests and retries."""

    requests: int = 0
    retries: int = 0
    timings_ms: dict[str, float] = field(default_factory=dict)

    def add(self, timings: dict[str, float]) -> None:
        for key, value in timings.items():
            self.timings_ms[key] = round(self.timings_ms.get(key, 0.0) + value, 1)


# --- retry hints ----------------------------------------------------------------------


def retry_after_seconds(headers: httpx.Headers, body: bytes = b"") -> float | None:
    """The server's retry hint in seconds, or None.

    Headers first: `retry-after-ms` (milliseconds, OpenAI), then `Retry-After` (seconds or
    an HTTP date, RFC 9110 §10.2.3). Then the body: Google APIs put the hint in the error's
    `details` as a `google.rpc.RetryInfo` whose `retryDelay` is a protobuf Duration string
    such as "37s" or "1.5s" (googleapis/googleapis google/rpc/error_details.proto).
    """
    ms = headers.get("retry-after-ms")
    if ms:
        with contextlib.suppress(ValueError):
            return max(0.0, float(ms) / 1000)
    value = headers.get("retry-after")
    if value:
        try:
            return max(0.0, float(value))
        except ValueError:
            pass
        with contextlib.suppress(TypeError, ValueError, IndexError):
            when = email.utils.parsedate_to_datetime(value)
            return max(0.0, when.timestamp() - time.time())
    return retry_delay_in_body(body)


_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)s\s*$")


def retry_delay_in_body(body: bytes) -> float | None:
    """`google.rpc.RetryInfo.retryDelay` from a JSON error body (`{"error": {"details": [...]}}`)."""
    if not body or not body.lstrip().startswith(b"{"):
        return None
    import json

    try:
        payload = json.loads(body)
    except ValueError:
        return None
    error = payload.get("error") if isinstance(payload, dict) else None
    details = error.get("details") if isinstance(error, dict) else None
    for detail in details if isinstance(details, list) else []:
        if not isinstance(detail, dict) or not str(detail.get("@type", "")).endswith("google.rpc.RetryInfo"):
            continue
        delay = detail.get("retryDelay")
        if isinstance(delay, dict):  # the Duration's JSON object form
            with contextlib.suppress(TypeError, ValueError):
                return max(0.0, float(delay.get("seconds", 0)) + float(delay.get("nanos", 0)) / 1e9)
        match = _DURATION.match(str(delay or ""))
        if match:
            return float(match.group(1))
    return None


def backoff_delay(attempt: int, error: EngineError, policy: CallPolicy) -> float | None:
    """Seconds to wait before retry number `attempt + 1`, or None when not to retry."""
    if error.retry_after is not None:
        return error.retry_after if error.retry_after <= policy.retry_after_cap_s else None
    return random.uniform(0, min(policy.backoff_cap_s, policy.backoff_base_s * 2**attempt))


# --- requests ---------------------------------------------------------------------------


def _timeout(policy: CallPolicy, left: float) -> httpx.Timeout:
    return httpx.Timeout(
        connect=min(policy.connect_timeout_s, left),
        read=min(policy.read_timeout_s, left),
        write=min(policy.read_timeout_s, left),
        pool=min(policy.connect_timeout_s, left),
    )


def _cut(sock: socket.socket) -> None:
    with contextlib.suppress(OSError):
        socket.socket.shutdown(sock, socket.SHUT_RDWR)  # wakes a recv() blocked in another thread


def _watchdog(resp: httpx.Response, deadline: Deadline) -> threading.Timer | None:
    """A timer that shuts the socket down when the deadline passes while the body is read.

    The read timeout was fixed when the request started (capped by the time left then), so a
    server that sends a little and then stalls could otherwise overrun the deadline by up to
    one read timeout. Headers are covered by that cap; the body by this timer.
    """
    stream = resp.extensions.get("network_stream")
    sock = stream.get_extra_info("socket") if stream is not None else None
    if not isinstance(sock, socket.socket):
        return None
    timer = threading.Timer(max(deadline.remaining(), 0.0), _cut, args=(sock,))
    timer.daemon = True
    timer.start()
    return timer


def _send_once(
    method: str,
    url: str,
    *,
    policy: CallPolicy,
    deadline: Deadline,
    max_bytes: int,
    allow_hosts: list[str] | None,
    **kwargs: Any,
) -> Response:
    allowlist = [*settings.RENDERHUB_ENGINE_HOST_ALLOWLIST, *(allow_hosts or [])]
    problem = url_problem(url, allowlist=allowlist)
    if problem:
        raise MisconfiguredError(f"Refusing to call {url}: {problem}")
    left = deadline.check("before the request")
    marks: dict[str, float] = {}

    def trace(name: str, info: dict[str, Any]) -> None:
        marks[name] = time.perf_counter()

    started = time.perf_counter()
    body = bytearray()
    answered: int | None = None  # the status, once the headers came back
    try:
        with client().stream(
            method, url, timeout=_timeout(policy, left), extensions={"trace": trace}, **kwargs
        ) as resp:
            answered = resp.status_code
            first_byte = time.perf_counter()
            cap = max_bytes if 200 <= resp.status_code < 300 else ERROR_BODY_BYTES
            declared = resp.headers.get("content-length", "")
            if declared.isdigit() and int(declared) > cap and 200 <= resp.status_code < 300:
                raise BadResponseError(
                    f"The engine announced {int(declared)} bytes, over the {cap}-byte cap.", status=resp.status_code
                )
            watchdog = _watchdog(resp, deadline)
            try:
                for chunk in resp.iter_bytes():
                    body += chunk
                    if len(body) > cap:
                        if not 200 <= resp.status_code < 300:
                            break  # an error body only needs its start
                        raise BadResponseError(
                            f"The engine's answer passed the {cap}-byte cap (counted after decompression).",
                            status=resp.status_code,
                        )
                    deadline.check("while reading the answer")
            finally:
                if watchdog is not None:
                    watchdog.cancel()
            done = time.perf_counter()
    except httpx.TimeoutException as exc:
        if deadline.remaining() <= 0.05:  # the timeout was the deadline's share, not the vendor's
            error = RetryableError(f"The engine call passed its {deadline.seconds:g} s deadline.")
        else:
            error = RetryableError(f"The engine timed out ({type(exc).__name__}).")
        error.possibly_billed = _possibly_billed(method, marks, answered)
        raise error from exc
    except httpx.DecodingError as exc:
        raise BadResponseError(f"The engine's answer could not be decoded: {exc}") from exc
    except httpx.TransportError as exc:
        if deadline.remaining() <= 0.05:  # the watchdog cut the socket
            error = RetryableError(f"The engine call passed its {deadline.seconds:g} s deadline.")
        else:
            error = RetryableError(f"Network error talking to the engine: {type(exc).__name__}: {exc}")
        error.possibly_billed = _possibly_billed(method, marks, answered)
        raise error from exc
    except RetryableError as exc:  # the deadline passed while the answer was read
        exc.possibly_billed = _possibly_billed(method, marks, answered)
        raise
    connect_ms = 0.0
    if "connection.connect_tcp.started" in marks and "connection.connect_tcp.complete" in marks:
        connect_ms = (marks["connection.connect_tcp.complete"] - marks["connection.connect_tcp.started"]) * 1000
    timings = {
        "connect": round(connect_ms, 1),
        "first_byte": round((first_byte - started) * 1000, 1),
        "download": round((done - first_byte) * 1000, 1),
    }
    if 300 <= resp.status_code < 400:
        raise BadResponseError(
            f"The engine answered with a redirect ({resp.status_code} to {resp.headers.get('location', '?')}); "
            "redirects are not followed.",
            status=resp.status_code,
        )
    return Response(status=resp.status_code, headers=resp.headers, body=bytes(body), url=url, timings_ms=timings)


def _possibly_billed(method: str, marks: dict[str, float], status: int | None) -> bool:
    """Whether a failed request may have been billed: a POST (the call that asks for the work)
    whose body went out in full, with no answer or a success answer we could not read. An
    error status (429, 5xx …) is the vendor declining the work; nothing sent is nothing billed."""
    sent = any(name.endswith("send_request_body.complete") for name in marks)
    return method.upper() == "POST" and sent and (status is None or 200 <= status < 300)


def send(
    method: str,
    url: str,
    *,
    policy: CallPolicy,
    deadline: Deadline,
    stats: CallStats,
    check: Callable[[Response], None],
    max_bytes: int | None = None,
    allow_hosts: list[str] | None = None,
    **kwargs: Any,
) -> Response:
    """Send one request, retrying retryable failures within the deadline.

    `check` turns a vendor's non-success answer into an EngineError (it is where each
    adapter reads its vendor's error format); it returns normally for a usable answer.
    A possibly billed POST to a paid engine (`policy.paid`) is not retried: the error is
    raised with `possibly_billed` set, so the attempt is priced unknown rather than billed
    twice and booked once.
    """
    attempt = 0
    while True:
        try:
            stats.requests += 1
            response = _send_once(
                method,
                url,
                policy=policy,
                deadline=deadline,
                max_bytes=max_bytes or policy.max_body_bytes,
                allow_hosts=allow_hosts,
                **kwargs,
            )
            stats.add(response.timings_ms)
            check(response)
            return response
        except EngineError as exc:
            if not exc.retryable or attempt >= policy.max_retries or (exc.possibly_billed and policy.paid):
                raise
            delay = backoff_delay(attempt, exc, policy)
            if delay is None or delay >= deadline.remaining():
                raise
            time.sleep(delay)
            attempt += 1
            stats.retries += 1


def status_error(response: Response, message: str, *, refused: bool = False) -> EngineError:
    """The common mapping of an HTTP status to an error class (vendors refine it)."""
    from apps.engines.types import RefusedError

    status = response.status
    retry_after = retry_after_seconds(response.headers, response.body)
    if refused:
        return RefusedError(message, status=status)
    if status in (408, 409, 429) or status >= 500:
        error: EngineError = RetryableError(message, retry_after=retry_after, status=status)
        if response.headers.get("x-should-retry", "").lower() == "false":
            error.retryable = False
        return error
    if status in (401, 403, 404, 402):
        return MisconfiguredError(message, status=status)
    return MisconfiguredError(message, status=status) if status == 400 else BadResponseError(message, status=status)


def json_or_none(response: Response) -> dict[str, Any] | None:
    """The body as a JSON object, or None (error bodies may be text, HTML or truncated)."""
    try:
        value = response.json()
    except BadResponseError:
        return None
    return value if isinstance(value, dict) else None


def error_text(response: Response, limit: int = 300) -> str:
    """A short, printable excerpt of an error body (which may be JSON, text or HTML)."""
    text = response.body[:limit].decode("utf-8", errors="replace").strip()
    return " ".join(text.split()) or f"HTTP {response.status}"


# --- images -----------------------------------------------------------------------------


def sniff_format(data: bytes) -> str | None:
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "PNG"
    if data.startswith(b"\xff\xd8\xff"):
        return "JPEG"
    if len(data) >= 12 and data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "WEBP"
    return None


def check_image(data: bytes, *, max_pixels: int = 0) -> tuple[str, int, int]:
    """(MIME type, width, height) of an engine's image, or BadResponseError.

    Engine output is untrusted input (research/reliability.md §4): the format comes from the
    magic bytes, never from Content-Type, and Pillow may only use that one decoder. Width and
    height are as a viewer shows the image (EXIF orientation applied; apps.core.images).
    """
    if not data:
        raise BadResponseError("The engine returned an empty image.")
    fmt = sniff_format(data)
    if fmt is None:
        raise BadResponseError(f"The engine returned something that is not a PNG, JPEG or WebP image ({data[:12]!r}).")
    cap = max_pixels or settings.RENDERHUB_MAX_PIXELS
    try:
        width, height = open_image(data, formats=[fmt], max_pixels=cap).size
    except ImageLoadError as exc:
        raise BadResponseError(f"The engine's image is refused: {exc}") from exc
    return IMAGE_FORMATS[fmt], width, height


# --- engine slots (per-engine concurrency across workers) ---------------------------------

_redis: Any = None
_redis_pid: int | None = None
_ACQUIRE = """
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[1])
if redis.call('ZCARD', KEYS[1]) < tonumber(ARGV[2]) then
  redis.call('ZADD', KEYS[1], ARGV[3], ARGV[4])
  redis.call('PEXPIRE', KEYS[1], ARGV[5])
  return 1
end
return 0
"""


def _redis_client() -> Any:
    global _redis, _redis_pid
    if _redis is None or _redis_pid != os.getpid():
        import redis

        _redis = redis.Redis.from_url(settings.CELERY_BROKER_URL)
        _redis_pid = os.getpid()
    return _redis


def slot_backend() -> str:
    return "redis" if str(settings.CELERY_BROKER_URL).startswith(("redis://", "rediss://")) else "file"


@contextlib.contextmanager
def _redis_slot(key: str, limit: int, deadline: Deadline) -> Iterator[None]:
    r = _redis_client()
    token = uuid.uuid4().hex
    acquire = r.register_script(_ACQUIRE)
    ttl = deadline.seconds + 30  # a dead worker's slot frees itself after this
    while True:
        now = time.time()
        if acquire(keys=[key], args=[now, limit, now + ttl, token, int(ttl * 1000)]) == 1:
            break
        if deadline.remaining() <= 0.05:
            raise RetryableError(f"All {limit} slots of this engine stayed busy until the deadline.")
        time.sleep(0.05)
    try:
        yield
    finally:
        import redis

        with contextlib.suppress(redis.RedisError):  # else the slot expires after its TTL
            r.zrem(key, token)


@contextlib.contextmanager
def _file_slot(slug: str, limit: int, deadline: Deadline) -> Iterator[None]:
    # flock() locks belong to an open file description, so they exclude other threads of
    # this process as well as other processes, and the kernel drops them if a worker dies.
    folder = Path(settings.VAR_DIR) / "engine-slots" / slug
    folder.mkdir(parents=True, exist_ok=True)
    while True:
        for i in range(limit):
            fd = os.open(folder / f"slot-{i}", os.O_CREAT | os.O_RDWR, 0o600)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                os.close(fd)
                continue
            try:
                yield
            finally:
                fcntl.flock(fd, fcntl.LOCK_UN)
                os.close(fd)
            return
        if deadline.remaining() <= 0.05:
            raise RetryableError(f"All {limit} slots of this engine stayed busy until the deadline.")
        time.sleep(0.05)


@contextlib.contextmanager
def engine_slot(*, slug: str, limit: int, deadline: Deadline) -> Iterator[None]:
    """Hold one of the engine's `limit` slots for the duration of the block (0 = unlimited)."""
    if limit <= 0:
        yield
        return
    slug = re.sub(r"[^A-Za-z0-9_-]", "_", slug)  # it names a file and a Redis key
    if slot_backend() == "redis":
        import redis

        try:
            with _redis_slot(f"renderhub:engine-slots:{slug}", limit, deadline):
                yield
        except redis.RedisError as exc:
            raise RetryableError(f"The engine slot store (Redis) is unavailable: {exc}") from exc
    else:
        with _file_slot(slug, limit, deadline):
            yield
