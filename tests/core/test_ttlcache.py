from apps.core import ttlcache


def test_ttlcache_loads_once_within_its_life_and_again_after(monkeypatch):
    now = [100.0]
    monkeypatch.setattr(ttlcache.time, "monotonic", lambda: now[0])
    cache: ttlcache.TTLCache[str, int] = ttlcache.TTLCache(ttl_s=5)
    loads: list[int] = []

    def load() -> int:
        loads.append(1)
        return len(loads)

    assert cache.get_or_load("k", load) == 1
    now[0] += 4.9
    assert cache.get_or_load("k", load) == 1
    now[0] += 0.2
    assert cache.get_or_load("k", load) == 2


def test_ttlcache_clear_all_forgets_every_cache():
    cache: ttlcache.TTLCache[str, str] = ttlcache.TTLCache(ttl_s=60)
    cache.put("k", "v")

    ttlcache.clear_all()

    assert cache.peek("k") is None
