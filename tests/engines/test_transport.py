"""Transport pieces that need no vendor: URL checks, retry hints, images, sizes, slots."""

import io
import multiprocessing
import os
import threading
import time

import httpx
import pytest
from PIL import Image

from apps.engines import sizes, transport
from apps.engines.adapters import openai
from apps.engines.types import BadResponseError, RetryableError
from apps.engines.urlcheck import url_problem
from tests.engines import fakes

# fork() from a threaded test process is what prefork workers do too; the children here only
# touch the transport, never a lock the parent's threads could hold.
FORK_OK = pytest.mark.filterwarnings("ignore:This process .* is multi-threaded:DeprecationWarning")

ALLOW = ["api.openai.com", "*.aiplatform.googleapis.com", "*-aiplatform.googleapis.com", "127.0.0.1"]


@pytest.mark.parametrize(
    ("url", "allowed"),
    [
        ("https://api.openai.com/v1", True),
        ("https://us-central1-aiplatform.googleapis.com/v1/projects/p", True),
        ("https://aiplatform.googleapis.com/v1", False),  # *.domain does not match the bare domain
        ("https://x.us-central1-aiplatform.googleapis.com/v1", False),
        ("https://evil.com/.us-central1-aiplatform.googleapis.com", False),
        ("https://api.openai.com.evil.example/v1", False),
        ("http://127.0.0.1:8188", True),  # explicitly listed
        ("ftp://api.openai.com/", False),
        ("file:///etc/passwd", False),
        ("https://user:pw@api.openai.com/", False),
    ],
)
def test_url_problem_applies_the_allowlist(url, allowed):
    assert (url_problem(url, allowlist=ALLOW) is None) is allowed


@pytest.mark.parametrize(
    "url",
    [
        "https://169.254.169.254/latest/meta-data/",
        "https://10.1.2.3/",
        "https://192.168.0.10/",
        "https://127.0.0.1:6379/",
        "https://[::1]:5432/",
        "https://[::ffff:127.0.0.1]/",
        "https://localhost:8000/",
        "https://0.0.0.0/",
    ],
)
def test_url_problem_refuses_internal_addresses_under_wildcard(url):
    assert "internal" in (url_problem(url, allowlist=["*"]) or "")


def test_url_problem_default_allowlist_misses_vertex_regional_hosts():
    # "*.aiplatform.googleapis.com" (the settings default) does not cover regional hosts.
    assert url_problem("https://us-central1-aiplatform.googleapis.com/v1", allowlist=["*.aiplatform.googleapis.com"])


def test_url_problem_wildcard_requires_https():
    assert "requires https" in (url_problem("http://8.8.8.8/generate", allowlist=["*"]) or "")


def test_url_problem_wildcard_allows_public_literal():
    assert url_problem("https://8.8.8.8/generate", allowlist=["*"]) is None


def test_retry_after_prefers_milliseconds():
    headers = httpx.Headers({"retry-after-ms": "250", "retry-after": "9"})

    assert transport.retry_after_seconds(headers) == 0.25


def test_retry_after_reads_an_http_date():
    from email.utils import formatdate

    headers = httpx.Headers({"retry-after": formatdate(time.time() + 30, usegmt=True)})

    assert 25 <= transport.retry_after_seconds(headers) <= 31


def test_backoff_is_full_jitter_within_the_exponential_cap():
    policy = transport.CallPolicy(backoff_base_s=0.5, backoff_cap_s=8)
    error = RetryableError("x")

    delays = [transport.backoff_delay(3, error, policy) for _ in range(200)]

    assert all(0 <= d <= 4.0 for d in delays)
    assert max(delays) > 2.0 and min(delays) < 1.0


def test_backoff_refuses_retry_after_above_the_cap():
    policy = transport.CallPolicy(retry_after_cap_s=30)

    assert transport.backoff_delay(0, RetryableError("x", retry_after=54749), policy) is None
    assert transport.backoff_delay(0, RetryableError("x", retry_after=2), policy) == 2


@pytest.mark.parametrize(
    ("data", "mime"),
    [(fakes.png(10, 10), "image/png"), (fakes.jpeg(10, 10), "image/jpeg")],
)
def test_check_image_sniffs_the_format(data, mime):
    assert transport.check_image(data)[0] == mime


def test_check_image_accepts_webp():
    buf = io.BytesIO()
    Image.new("RGB", (8, 8)).save(buf, format="WEBP")

    assert transport.check_image(buf.getvalue()) == ("image/webp", 8, 8)


@pytest.mark.parametrize(
    "data",
    [b"", b"GIF89a\x01\x00", b"%!PS-Adobe-3.0 EPSF", b"\x89PNG\r\n\x1a\ntruncated", fakes.pixel_bomb_png()],
)
def test_check_image_refuses_what_is_not_a_safe_image(data):
    with pytest.raises(BadResponseError):
        transport.check_image(data)


def test_check_image_refuses_gif_even_if_pillow_could_read_it():
    buf = io.BytesIO()
    Image.new("RGB", (8, 8)).save(buf, format="GIF")

    with pytest.raises(BadResponseError, match="not a PNG"):
        transport.check_image(buf.getvalue())


def test_sizes_nearest_picks_the_closest_aspect_then_area():
    options = openai.DALLE_SIZES

    assert sizes.nearest(options, width=768, height=512).value == "1792x1024"
    assert sizes.nearest(options, width=512, height=512).value == "1024x1024"
    assert sizes.nearest(options, width=400, height=700).value == "1024x1792"


def test_fit_to_canvas_covers_and_crops_to_exact_size():
    image, mime, fitted = sizes.fit_to_canvas(image=fakes.png(1792, 1024), mime_type="image/png", width=768, height=512)

    assert fitted is True
    assert mime == "image/png"
    assert Image.open(io.BytesIO(image)).size == (768, 512)


def test_fit_to_canvas_keeps_bytes_when_size_matches():
    original = fakes.jpeg(64, 48)

    assert sizes.fit_to_canvas(image=original, mime_type="image/jpeg", width=64, height=48) == (
        original,
        "image/jpeg",
        False,
    )


def test_client_is_reused_within_a_process():
    assert transport.client() is transport.client()


def _child_client_pid(queue):  # type: ignore[no-untyped-def]
    transport.client()
    queue.put((os.getpid(), transport._client_pid))


@FORK_OK
def test_client_is_made_anew_after_fork():
    transport.client()
    ctx = multiprocessing.get_context("fork")
    queue = ctx.Queue()
    proc = ctx.Process(target=_child_client_pid, args=(queue,))
    proc.start()
    child_pid, client_pid = queue.get(timeout=20)
    proc.join(10)

    assert child_pid == client_pid != os.getpid()


def _hold_slot(slug, limit, hold, queue):  # type: ignore[no-untyped-def]
    with transport.engine_slot(slug=slug, limit=limit, deadline=transport.Deadline(20)):
        start = time.monotonic()
        time.sleep(hold)
        queue.put((start, time.monotonic()))


def _max_overlap(intervals):  # type: ignore[no-untyped-def]
    events = sorted([(s, 1) for s, _ in intervals] + [(e, -1) for _, e in intervals])
    level = peak = 0
    for _, delta in events:
        level += delta
        peak = max(peak, level)
    return peak


@FORK_OK
@pytest.mark.parametrize("broker", ["redis", "filesystem://"])
def test_engine_slot_limit_holds_across_processes(broker, settings, tmp_path):
    if broker == "filesystem://":
        settings.CELERY_BROKER_URL = "filesystem://"
        settings.VAR_DIR = tmp_path
    else:
        assert settings.CELERY_BROKER_URL.startswith("redis"), "run through make test"
        transport._redis_client().delete("renderhub:engine-slots:slot-test")
    ctx = multiprocessing.get_context("fork")
    queue = ctx.Queue()
    procs = [ctx.Process(target=_hold_slot, args=("slot-test", 2, 0.3, queue)) for _ in range(5)]
    for p in procs:
        p.start()
    intervals = [queue.get(timeout=30) for _ in procs]
    for p in procs:
        p.join(10)

    assert _max_overlap(intervals) == 2


def test_engine_slot_limit_holds_across_threads(settings, tmp_path):
    settings.CELERY_BROKER_URL = "filesystem://"
    settings.VAR_DIR = tmp_path
    intervals: list[tuple[float, float]] = []

    def hold() -> None:
        with transport.engine_slot(slug="threads", limit=1, deadline=transport.Deadline(10)):
            start = time.monotonic()
            time.sleep(0.05)
            intervals.append((start, time.monotonic()))

    threads = [threading.Thread(target=hold) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()

    assert len(intervals) == 4
    assert _max_overlap(intervals) == 1


def test_engine_slot_busy_until_deadline_is_retryable(settings, tmp_path):
    settings.CELERY_BROKER_URL = "filesystem://"
    settings.VAR_DIR = tmp_path
    with (
        transport.engine_slot(slug="busy", limit=1, deadline=transport.Deadline(5)),
        pytest.raises(RetryableError, match="slots"),
        transport.engine_slot(slug="busy", limit=1, deadline=transport.Deadline(0.2)),
    ):
        pass


def test_retry_after_reads_google_retry_info_from_the_body():
    body = (
        b'{"error": {"code": 429, "status": "RESOURCE_EXHAUSTED", "details": ['
        b'{"@type": "type.googleapis.com/google.rpc.QuotaFailure"},'
        b'{"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "37s"}]}}'
    )

    assert transport.retry_after_seconds(httpx.Headers({}), body) == 37.0


def test_retry_after_header_wins_over_the_body():
    body = b'{"error": {"details": [{"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "37s"}]}}'

    assert transport.retry_after_seconds(httpx.Headers({"retry-after": "2"}), body) == 2.0


def test_retry_after_ignores_a_body_without_retry_info():
    assert transport.retry_after_seconds(httpx.Headers({}), b"error code: 1015") is None
    assert transport.retry_after_seconds(httpx.Headers({}), b'{"error": {"details": [{"retryDelay": "3s"}]}}') is None
