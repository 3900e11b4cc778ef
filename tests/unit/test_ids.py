"""Ids: the contract's shape, the ObjectId layout, and creation order within a process."""

from __future__ import annotations

import re
import time

import pytest

from invoicebus.domain import ids
from invoicebus_contracts import Resource


def test_ids_have_the_contract_shape() -> None:
    for resource in Resource:
        assert re.fullmatch(resource.id_pattern, ids.new_id(resource))
    assert re.fullmatch(r"evt_[0-9a-f]{24}", ids.new_event_id())


def test_the_hex_part_is_seconds_process_and_counter() -> None:
    before = int(time.time())
    first, second = bytes.fromhex(ids.new_hex()), bytes.fromhex(ids.new_hex())
    after = int(time.time())
    assert before <= int.from_bytes(first[:4], "big") <= after
    assert first[4:9] == second[4:9]  # the same process
    assert int.from_bytes(second[9:], "big") == (int.from_bytes(first[9:], "big") + 1) % 2**24


def test_ids_sort_in_creation_order(monkeypatch: pytest.MonkeyPatch) -> None:
    ids.new_hex()  # the process part is drawn
    monkeypatch.setattr(ids._ids, "_counter", 0)  # no wrap-around of the 3-byte counter here
    made = [ids.new_hex() for _ in range(2000)]
    assert made == sorted(made)
    assert len(set(made)) == len(made)
    # Across seconds too: a later second sorts after, whatever the counter says.
    clock = iter([1_000_000_000, 1_000_000_001])
    monkeypatch.setattr("invoicebus.domain.ids.time.time", lambda: next(clock))
    earlier, later = ids.new_hex(), ids.new_hex()
    assert earlier < later


def test_a_new_process_draws_a_new_random_part(monkeypatch: pytest.MonkeyPatch) -> None:
    mine = bytes.fromhex(ids.new_hex())[4:9]
    monkeypatch.setattr("invoicebus.domain.ids.os.getpid", lambda: -2)  # as in a forked child
    assert bytes.fromhex(ids.new_hex())[4:9] != mine
