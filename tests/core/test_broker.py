"""The embedded default's broker (apps/core/broker.py) against kombu's own filesystem transport.

Each test runs on both: kombu's transport is expected to fail them (strict xfail), which is
the crash `make run` showed — a worker reading a message file that was not yet complete.
"""

import json
import os
import threading
from queue import Empty

import pytest
from kombu import Connection

from apps.core.broker import message_queue

OURS = "apps.core.broker:Transport"
KOMBU = "filesystem"
both_transports = pytest.mark.parametrize(
    "transport",
    [
        OURS,
        pytest.param(KOMBU, marks=pytest.mark.xfail(raises=json.JSONDecodeError, strict=True, reason="the old race")),
    ],
)


def _channel(transport: str, root):  # type: ignore[no-untyped-def]
    for sub in ("queue", "processed", "claimed", "quarantine", "control"):
        (root / sub).mkdir(exist_ok=True)
    options = {
        "data_folder_in": str(root / "queue"),
        "data_folder_out": str(root / "queue"),
        "processed_folder": str(root / "processed"),
        "claim_folder": str(root / "claimed"),
        "quarantine_folder": str(root / "quarantine"),
        "control_folder": str(root / "control"),
    }
    return Connection("filesystem://", transport=transport, transport_options=options).default_channel


def _message(body: str) -> dict:
    return {"body": body, "headers": {}, "properties": {"delivery_tag": body, "delivery_info": {}}}


@both_transports
def test_reader_racing_a_slow_writer_never_takes_the_unfinished_message(transport, tmp_path):
    writer_inside = threading.Event()
    release = threading.Event()

    class SlowToSerialise(dict):
        """A message whose encoding stops half-way, like a writer descheduled mid-write."""

        def items(self):  # type: ignore[no-untyped-def]
            writer_inside.set()
            release.wait(10)
            return super().items()

    writer, reader = _channel(transport, tmp_path), _channel(transport, tmp_path)
    thread = threading.Thread(target=writer._put, args=("render.preview", SlowToSerialise(_message("m1"))))
    thread.start()
    assert writer_inside.wait(10)
    try:
        with pytest.raises(Empty):
            reader._get("render.preview")
    finally:
        release.set()
        thread.join(10)

    assert reader._get("render.preview")["body"] == "m1"


@both_transports
def test_unreadable_message_file_is_quarantined_and_the_next_one_delivered(transport, tmp_path, caplog):
    channel = _channel(transport, tmp_path)
    # "0_" sorts before any real name (a millisecond clock reading, never 0-led)
    partial = "0_00000000-0000-0000-0000-000000000000.verify.msg"
    (tmp_path / "queue" / partial).write_text('{"body": "half a mess')
    channel._put("verify", _message("good"))

    assert channel._get("verify")["body"] == "good"
    assert os.listdir(tmp_path / "quarantine") == [partial]
    assert "is unreadable (JSONDecodeError" in caplog.text
    with pytest.raises(Empty):
        channel._get("verify")


def test_message_published_through_kombu_is_consumed_once(tmp_path):
    producer_channel, consumer_channel = _channel(OURS, tmp_path), _channel(OURS, tmp_path)
    consumer_channel.queue_declare("render.final")
    producer_channel.basic_publish(producer_channel.prepare_message("hello"), exchange="", routing_key="render.final")

    message = consumer_channel.basic_get("render.final", no_ack=True)

    assert message.body == b"hello" or message.body == "hello"
    assert consumer_channel.basic_get("render.final", no_ack=True) is None
    assert os.listdir(tmp_path / "queue") == []
    assert os.listdir(tmp_path / "claimed") == []


@pytest.mark.parametrize(
    ("filename", "queue"),
    [
        ("1764455_0c6e.render.preview.msg", "render.preview"),
        ("12_ab.verify.msg", "verify"),
        (".12_ab.verify.msg.part", None),
        ("notes.txt", None),
    ],
)
def test_message_queue_reads_the_queue_from_a_file_name(filename, queue):
    assert message_queue(filename) == queue


def test_broadcast_queue_nobody_reads_is_unbound_and_emptied(tmp_path, caplog):
    """Flower's event queue outlives Flower: the worker kept filling it, hundreds of files a minute."""
    channel = _channel(OURS, tmp_path)
    channel.exchange_declare("celeryev", type="fanout")
    for queue in ("celeryev.live", "celeryev.gone"):
        channel.queue_declare(queue)
        channel.queue_bind(queue, "celeryev", routing_key="#")
    (tmp_path / "queue" / "1_00000000-0000-0000-0000-000000000000.celeryev.gone.msg").write_text("{}")

    channel._put_fanout("celeryev", _message("event"), "#")

    assert channel._get("celeryev.live")["body"] == "event"
    assert os.listdir(tmp_path / "queue") == []
    assert [q.queue for q in channel.get_table("celeryev")] == ["celeryev.live"]
    assert "Nobody read broker queue celeryev.gone" in caplog.text
