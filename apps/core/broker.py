"""The embedded default's broker: kombu's filesystem transport, made safe for concurrent use.

kombu's own filesystem transport (kombu/transport/filesystem.py, 5.7) creates the message file
under its final name and then writes into it; its reader moves any file with that name away and
parses it. A reader that polls while a writer is between `open()` and `write()` takes an empty
or partial file, `json.loads` raises `JSONDecodeError`, the consumer dies and the message is
lost (the writer goes on writing into the moved file). On `make run` that crashed the worker
every few minutes.

Here a message becomes visible only when complete: it is written under a hidden temporary name
in the same folder and `os.replace()`d to its final name (rename is atomic within one file
system, POSIX rename(2)). The reader claims a file by renaming it into a claim folder (so two
consumers never take the same message) and moves anything it cannot parse to a quarantine
folder with an error in the log, instead of raising: one bad file never stops the worker.

Use it with `CELERY_BROKER_URL=filesystem://` and `CELERY_BROKER_TRANSPORT=apps.core.broker:Transport`
(renderhub/settings.py does both for the embedded default). Transport options, besides kombu's
(`data_folder_in`, `data_folder_out`, `processed_folder`, `store_processed`, `control_folder`):
`claim_folder` and `quarantine_folder` (default: `claimed/` and `quarantine/` beside the data folder),
`fanout_queue_expires` (seconds, default 60: a broadcast queue nobody reads is unbound and emptied).
"""

import logging
import os
import uuid
from functools import cached_property
from pathlib import Path
from queue import Empty
from time import monotonic
from typing import Any

from kombu.exceptions import ChannelError
from kombu.transport import filesystem, virtual
from kombu.utils.encoding import bytes_to_str, str_to_bytes
from kombu.utils.json import dumps, loads

log = logging.getLogger(__name__)

TEMP_PREFIX = "."  # a hidden name: no reader matches "<n>_<uuid>.<queue>.msg" against it


def message_queue(filename: str) -> str | None:
    """The queue a message file belongs to ("<ms>_<uuid>.<queue>.msg"), or None for other files."""
    if filename.startswith(TEMP_PREFIX) or not filename.endswith(".msg"):
        return None
    rest = filename.partition(".")[2]
    return rest[: -len(".msg")] or None


class Channel(filesystem.Channel):
    """Filesystem channel with atomic publishing and a reader that quarantines bad files."""

    def _put(self, queue: str, payload: dict[str, Any], **kwargs: Any) -> None:
        name = f"{round(monotonic() * 1000)}_{uuid.uuid4()}.{queue}.msg"
        data = str_to_bytes(dumps(payload))  # serialise before any file exists
        final = os.path.join(self.data_folder_out, name)
        temp = os.path.join(self.data_folder_out, f"{TEMP_PREFIX}{name}.part")
        try:
            with open(temp, "wb") as f:
                f.write(data)
            os.replace(temp, final)
        except OSError as exc:
            try:
                os.remove(temp)
            except OSError:
                pass
            raise ChannelError(f"Cannot add file {final!r} to directory") from exc

    def _put_fanout(self, exchange: str, payload: dict[str, Any], routing_key: str, **kwargs: Any) -> None:
        # A broadcast goes to every queue bound to the exchange, also to one whose consumer
        # is gone for good: Flower's event queue after Flower stops (the worker keeps sending
        # events, hundreds of files a minute), a dead worker's remote-control queue. AMQP
        # expires such queues (x-expires); here a bound queue whose oldest message has waited
        # `fanout_queue_expires` seconds (default 60) is unbound and emptied, with a warning.
        for bound in self.get_table(exchange):
            if self._abandoned(bound.queue):
                dropped = self._purge(bound.queue)
                self._delete(bound.queue, exchange, bound.routing_key, bound.pattern)
                log.warning(
                    "Nobody read broker queue %s for %.0f s: unbound it from %s and dropped its %d messages",
                    bound.queue,
                    self.fanout_queue_expires,
                    exchange,
                    dropped,
                )
                continue
            self._put(bound.queue, payload, **kwargs)

    def _abandoned(self, queue: str) -> bool:
        now_ms = monotonic() * 1000
        for filename in os.listdir(self.data_folder_in):
            if message_queue(filename) == queue:
                try:
                    written_ms = int(filename.partition("_")[0])
                except ValueError:
                    continue
                if now_ms - written_ms > self.fanout_queue_expires * 1000:
                    return True
        return False

    @cached_property
    def fanout_queue_expires(self) -> float:
        return float(self.transport_options.get("fanout_queue_expires", 60))

    def _get(self, queue: str) -> dict[str, Any]:
        for filename in sorted(os.listdir(self.data_folder_in)):
            if message_queue(filename) != queue:
                continue
            claimed = os.path.join(self.claim_folder, filename)
            try:
                os.replace(os.path.join(self.data_folder_in, filename), claimed)
            except FileNotFoundError:
                continue  # another consumer claimed it first
            try:
                with open(claimed, "rb") as f:
                    payload = loads(bytes_to_str(f.read()))
                if not isinstance(payload, dict) or not isinstance(payload.get("properties"), dict):
                    raise ValueError("not a kombu message (a JSON object with 'properties')")
            except (OSError, ValueError) as exc:  # JSONDecodeError and UnicodeDecodeError are ValueErrors
                self._quarantine(claimed, filename, exc)
                continue
            if self.store_processed:
                os.replace(claimed, os.path.join(self.processed_folder, filename))
            else:
                os.remove(claimed)
            return payload
        raise Empty()

    def _quarantine(self, claimed: str, filename: str, exc: Exception) -> None:
        target = os.path.join(self.quarantine_folder, filename)
        try:
            os.replace(claimed, target)
        except OSError:
            target = claimed
        log.error("Broker message %s is unreadable (%s: %s); moved to %s", filename, type(exc).__name__, exc, target)

    def _folder(self, option: str, default_name: str) -> str:
        folder = self.transport_options.get(option) or str(Path(self.data_folder_in).parent / default_name)
        os.makedirs(folder, exist_ok=True)
        return folder

    @cached_property
    def claim_folder(self) -> str:
        return self._folder("claim_folder", "claimed")

    @cached_property
    def quarantine_folder(self) -> str:
        return self._folder("quarantine_folder", "quarantine")


class Transport(filesystem.Transport):
    """Filesystem transport whose messages are visible only once completely written."""

    Channel = Channel
    # Declared exchanges and bindings, per process (kombu keeps them in a class attribute):
    # not shared with kombu's own filesystem transport should both be used in one process.
    global_state = virtual.BrokerState()
