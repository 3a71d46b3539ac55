"""The Redis broker transport, with one fix that keeps a worker alive across a Redis restart.

Observed with kombu 5.7.0 (the newest release) and redis-py 8.1.0: when Redis goes away while
a worker's BRPOP is in flight, Celery's consumer first `collect()`s the connection — closing
the channel fails on the dead socket, so the channel stays open, and the transport's `client`
is cleared — then `close()`s it: the channel tries again to restore its unacked messages,
builds connection parameters from the cleared client, and raises AttributeError
("'NoneType' object has no attribute 'hostname'"). That is not a connection error, so the
consumer treats it as unrecoverable and the worker exits (thread-pool workers in 4 of 4
restarts). Here a channel whose connection is gone raises a connection error instead, which
kombu ignores while closing, and the consumer reconnects as it should.

And one saving: kombu builds a new redis-py client (its ~170 response callbacks copied into a
case-insensitive dict) for every message it publishes (`Channel.conn_or_acquire`), about a
fifth of the web process's CPU for a submission that enqueues two attempts (issue 13). The
channel here keeps one client per connection pool instead: a client holds no connection of its
own (each command borrows one from the pool and gives it back), so sharing it between publishes
and threads is what redis-py allows; a pool kombu replaces (`_disconnect_pools`) gets a new one.

Selected by CELERY_BROKER_TRANSPORT for redis:// URLs (renderhub/settings.py).
"""

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from kombu.transport import redis as kombu_redis
from redis.exceptions import ConnectionError as RedisConnectionError


class Channel(kombu_redis.Channel):
    def _connparams(self, asynchronous: bool = False) -> dict[str, Any]:
        if self.connection.client is None:
            raise RedisConnectionError("the broker connection was closed (Redis restarted or unreachable)")
        return super()._connparams(asynchronous=asynchronous)

    _publish_client: Any = None

    @contextmanager
    def conn_or_acquire(self, client: Any = None) -> Iterator[Any]:
        if client:
            yield client
            return
        pool = self.pool
        cached = self._publish_client
        if cached is None or cached.connection_pool is not pool:
            cached = self._publish_client = self._create_client()
        yield cached


class Transport(kombu_redis.Transport):
    Channel = Channel
