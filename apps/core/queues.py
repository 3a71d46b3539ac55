"""How much work waits in each broker queue, and for how long: read from the broker itself.

- filesystem (the embedded default): the message files of the queue in the data folder; the
  age is the oldest file's modification time (apps/core/broker.py writes each file once).
- Redis: LLEN of the queue's lists (kombu keeps one list per priority step: the queue's name,
  then "<name>\\x06\\x163", "…6", "…9") and the oldest message, the one at the tail that BRPOP
  takes next, whose publish time RenderHub puts in a header (`published_at_header`).
- any other broker: the message count from a passive queue declare; the age is unknown.
"""

import os
import time
from dataclasses import dataclass
from typing import Any

from celery.signals import before_task_publish
from django.conf import settings
from kombu.utils.json import loads

from apps.core.broker import message_queue

PUBLISHED_AT = "rh_published_at"  # task message header: Unix time of publishing, seconds
REDIS_PRIORITY_SEP = "\x06\x16"  # kombu.transport.redis: queue name + sep + priority step
REDIS_PRIORITY_STEPS = ("", "3", "6", "9")


@dataclass(frozen=True)
class QueueState:
    name: str
    depth: int | None  # messages waiting; None when the broker could not be read
    oldest_age_s: float | None  # None: empty, or the broker does not tell
    error: str = ""


@before_task_publish.connect
def published_at_header(headers: dict[str, Any] | None = None, **_: Any) -> None:
    """Stamp every task message with its publish time, so a queue's oldest message has an age."""
    if headers is not None:
        headers.setdefault(PUBLISHED_AT, time.time())


def queue_names() -> list[str]:
    """The queues RenderHub's workers consume: preview, final, verify, verify.preview and default."""
    return [*dict.fromkeys([*settings.RENDERHUB_QUEUES.values(), settings.CELERY_TASK_DEFAULT_QUEUE])]


def broker_kind() -> str:
    return settings.CELERY_BROKER_URL.partition("://")[0] or "?"


def queue_states(*, names: list[str] | None = None) -> list[QueueState]:
    """Depth and oldest message age of each queue (default: `queue_names()`). Never raises:
    a broker that cannot be read gives depth None and the error."""
    names = names or queue_names()
    kind = broker_kind()
    try:
        if kind == "filesystem":
            return _filesystem(names)
        if kind.startswith("redis") or kind == "rediss":
            return _redis(names)
        return _generic(names)
    except Exception as exc:
        return [QueueState(name, None, None, f"{type(exc).__name__}: {exc}") for name in names]


def _filesystem(names: list[str]) -> list[QueueState]:
    folder = settings.CELERY_BROKER_TRANSPORT_OPTIONS.get("data_folder_in", "data_in")
    now = time.time()
    depth = dict.fromkeys(names, 0)
    oldest: dict[str, float] = {}
    with os.scandir(folder) as entries:
        for entry in entries:
            queue = message_queue(entry.name)
            if queue not in depth:
                continue
            try:
                mtime = entry.stat().st_mtime
            except FileNotFoundError:  # consumed meanwhile
                continue
            depth[queue] += 1
            oldest[queue] = min(oldest.get(queue, mtime), mtime)
    return [QueueState(n, depth[n], max(0.0, now - oldest[n]) if n in oldest else None) for n in names]


def quarantined_messages() -> int | None:
    """Unreadable message files the filesystem broker set aside (None on other brokers)."""
    folder = settings.CELERY_BROKER_TRANSPORT_OPTIONS.get("quarantine_folder")
    if broker_kind() != "filesystem" or not folder or not os.path.isdir(folder):
        return None
    return sum(1 for name in os.listdir(folder) if name.endswith(".msg"))


def _redis(names: list[str]) -> list[QueueState]:
    import redis

    client = redis.Redis.from_url(settings.CELERY_BROKER_URL, socket_timeout=2, socket_connect_timeout=2)
    try:
        pipe = client.pipeline(transaction=False)
        for name in names:
            for step in REDIS_PRIORITY_STEPS:
                key = f"{name}{REDIS_PRIORITY_SEP}{step}" if step else name
                pipe.llen(key)
                pipe.lindex(key, -1)
        replies = pipe.execute()
    finally:
        client.close()
    now = time.time()
    states = []
    for i, name in enumerate(names):
        chunk = replies[i * 2 * len(REDIS_PRIORITY_STEPS) : (i + 1) * 2 * len(REDIS_PRIORITY_STEPS)]
        depth = sum(chunk[0::2])
        ages = [now - t for raw in chunk[1::2] if raw is not None and (t := _published_at(raw)) is not None]
        states.append(QueueState(name, depth, max(0.0, max(ages)) if ages else None))
    return states


def _published_at(raw: bytes) -> float | None:
    try:
        value = loads(raw)["headers"].get(PUBLISHED_AT)
    except (ValueError, KeyError, TypeError, AttributeError):
        return None
    return float(value) if isinstance(value, int | float) else None


def _generic(names: list[str]) -> list[QueueState]:
    from celery import current_app

    states = []
    with current_app.connection_for_read() as conn:
        channel = conn.default_channel
        for name in names:
            ok = channel.queue_declare(queue=name, passive=True)
            states.append(QueueState(name, ok.message_count, None))
    return states
