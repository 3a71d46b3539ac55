"""Per-hop latency of a serverless broker: publish → a waiting consumer has the message.

Compares the transports the embedded default could use, each in a scratch folder with the
same 50 ms polling interval as the embedded default: ours (apps.core.broker, atomic rename),
kombu's own filesystem transport, and kombu's SQLAlchemy transport on SQLite (needs
SQLAlchemy installed; skipped, and said so, when it is not). One producer thread publishes
--messages small messages at --rate per second; one consumer thread in the same process
takes them. Prints JSON: per transport p50/p95/max in ms and how many arrived.
"""

import json
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand
from kombu import Connection


def _filesystem(transport: str, root: Path) -> Connection:
    for sub in ("queue", "processed", "claimed", "quarantine", "control"):
        (root / sub).mkdir(parents=True, exist_ok=True)
    options = {
        "data_folder_in": str(root / "queue"),
        "data_folder_out": str(root / "queue"),
        "processed_folder": str(root / "processed"),
        "claim_folder": str(root / "claimed"),
        "quarantine_folder": str(root / "quarantine"),
        "control_folder": str(root / "control"),
        "polling_interval": 0.05,
    }
    return Connection("filesystem://", transport=transport, transport_options=options)


def _sqlalchemy(root: Path) -> Connection:
    from kombu.transport.sqlalchemy import Transport  # ImportError without SQLAlchemy

    class Polling50ms(Transport):  # its transport options go to create_engine(), not the poller
        polling_interval = 0.05

    return Connection(f"sqlite:///{root / 'broker.sqlite3'}", transport=Polling50ms)


def _measure(make: Any, *, messages: int, rate: float) -> dict[str, Any]:
    latencies: list[float] = []
    errors: list[str] = []
    ready = threading.Event()

    def consume() -> None:
        with make() as conn:
            queue = conn.SimpleQueue("bench")
            ready.set()
            for _ in range(messages):
                try:
                    message = queue.get(block=True, timeout=10)
                except Exception as exc:  # Empty after 10 s, or a transport error
                    errors.append(repr(exc))
                    return
                latencies.append((time.time() - message.payload["t"]) * 1000)
                message.ack()

    consumer = threading.Thread(target=consume)
    consumer.start()
    ready.wait(30)
    with make() as conn:
        queue = conn.SimpleQueue("bench")
        start = time.monotonic()
        for i in range(messages):
            time.sleep(max(0.0, start + i / rate - time.monotonic()))
            queue.put({"t": time.time(), "i": i})
    consumer.join(60)
    ordered = sorted(latencies)

    def pick(q: float) -> float:
        return round(ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))], 1) if ordered else float("nan")

    return {
        "arrived": len(ordered),
        "p50_ms": pick(0.5),
        "p95_ms": pick(0.95),
        "max_ms": round(ordered[-1], 1) if ordered else None,
        "errors": errors[:3],
    }


class Command(BaseCommand):
    help = "Publish → consume latency of the serverless broker transports (JSON)."

    def add_arguments(self, parser):  # type: ignore[no-untyped-def]
        parser.add_argument("--messages", type=int, default=200)
        parser.add_argument("--rate", type=float, default=20.0)

    def handle(self, *args: object, messages: int, rate: float, **options: object) -> None:
        results: dict[str, Any] = {"messages": messages, "rate_per_s": rate, "polling_interval_s": 0.05}
        with tempfile.TemporaryDirectory() as tmp:
            root = Path(tmp)
            candidates = {
                "apps.core.broker (atomic rename)": lambda: _filesystem("apps.core.broker:Transport", root / "ours"),
                "kombu filesystem": lambda: _filesystem("filesystem", root / "kombu"),
                "kombu sqlalchemy on sqlite": lambda: _sqlalchemy(root),
            }
            for name, make in candidates.items():
                try:
                    results[name] = _measure(make, messages=messages, rate=rate)
                except ImportError as exc:
                    results[name] = {"skipped": f"not installed: {exc}"}
        self.stdout.write(json.dumps(results, indent=2))
