"""Resource and event ids: ``<prefix>_<24 lowercase hex>``.

The hex part has the layout of a MongoDB ObjectId, made here without any database library:
a 4-byte big-endian count of seconds since the epoch, 5 random bytes drawn once per process
(again after a fork), and a 3-byte big-endian counter that starts at a random value. Ids made
by one process therefore sort in creation order (the default ``id`` ordering of lists relies on
it), and ids made at once by different processes do not collide.
"""

from __future__ import annotations

import os
import re
import secrets
import threading
import time
from datetime import datetime

from invoicebus_contracts import Resource

EVENT_PREFIX = "evt"
_COUNTER_MOD = 1 << 24
_HEX = re.compile(r"^[0-9a-f]{24}$")


class _Generator:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._pid = -1
        self._process = b""
        self._counter = 0

    def next_hex(self) -> str:
        with self._lock:
            if self._pid != os.getpid():  # a new process (or a forked child): new random part
                self._pid = os.getpid()
                self._process = secrets.token_bytes(5)
                self._counter = secrets.randbelow(_COUNTER_MOD)
            self._counter = (self._counter + 1) % _COUNTER_MOD
            seconds = int(time.time()) & 0xFFFFFFFF
            raw = seconds.to_bytes(4, "big") + self._process + self._counter.to_bytes(3, "big")
        return raw.hex()


_ids = _Generator()


def new_hex() -> str:
    """24 lowercase hex digits, in creation order within this process."""
    return _ids.next_hex()


def new_id(resource: Resource) -> str:
    return f"{resource.id_prefix}_{new_hex()}"


def new_event_id() -> str:
    return f"{EVENT_PREFIX}_{new_hex()}"


def first_id_at(resource: Resource, moment: datetime) -> str:
    """The smallest id the resource can have if made at ``moment`` or later: ids sort by their
    second of creation first, so this bounds a range of ids by time."""
    seconds = max(0, int(moment.timestamp())) & 0xFFFFFFFF
    return f"{resource.id_prefix}_{seconds:08x}{'0' * 16}"


def hex_part(value: str) -> str | None:
    """The 24 hex digits of an id (``cust_<hex>``), or of bare hex; None if it is neither."""
    tail = value.rpartition("_")[2]
    return tail if _HEX.match(tail) else None
