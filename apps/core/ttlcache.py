"""Small per-process caches with a time to live, for rows read on every request and rarely
written (tiers, routing, engines, API tokens and their users' permissions).

Each process keeps its own copy. A write in this process clears the cache at once (the owning
app connects `clear` to its models' post_save / post_delete signals); a write in another
process (another gunicorn worker, a Celery worker, the admin) is seen after at most `ttl_s`
seconds. `clear_all()` empties every cache (tests call it between tests).
"""

import threading
import time
from collections.abc import Callable, Hashable
from typing import Any

_ALL: list["TTLCache[Any, Any]"] = []


class TTLCache[K: Hashable, V]:
    """`get_or_load(key, load)`: the cached value if younger than `ttl_s`, else `load()`'s.

    Values are kept as returned (not copied): callers must not mutate them. At most `maxsize`
    entries; when full, the whole cache is dropped (entries are cheap to reload)."""

    def __init__(self, *, ttl_s: float, maxsize: int = 1024):
        self.ttl_s, self.maxsize = ttl_s, maxsize
        self._data: dict[K, tuple[float, V]] = {}
        self._lock = threading.Lock()
        _ALL.append(self)

    def get_or_load(self, key: K, load: Callable[[], V]) -> V:
        now = time.monotonic()
        hit = self._data.get(key)
        if hit is not None and now - hit[0] < self.ttl_s:
            return hit[1]
        value = load()
        with self._lock:
            if len(self._data) >= self.maxsize:
                self._data.clear()
            self._data[key] = (now, value)
        return value

    def peek(self, key: K) -> V | None:
        """The cached value if younger than `ttl_s`, else None (nothing is loaded)."""
        hit = self._data.get(key)
        if hit is not None and time.monotonic() - hit[0] < self.ttl_s:
            return hit[1]
        return None

    def put(self, key: K, value: V) -> None:
        with self._lock:
            if len(self._data) >= self.maxsize:
                self._data.clear()
            self._data[key] = (time.monotonic(), value)

    def clear(self, *args: object, **kwargs: object) -> None:
        """Forget everything (signature fits a signal receiver)."""
        with self._lock:
            self._data.clear()


def clear_all() -> None:
    for cache in _ALL:
        cache.clear()
