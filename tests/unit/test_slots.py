"""Slots for list requests (queries/slots.py): the limits, the turns, the deadline."""

from __future__ import annotations

import asyncio

import pytest

from invoicebus.queries.slots import NoSlot, Slots

FOREVER = 3600.0


class Holder:
    """A task holding a slot of ``key`` until released; ``order`` records who got one when."""

    def __init__(self, slots: Slots, key: str, order: list[str]):
        self.release = asyncio.Event()
        self.task = asyncio.create_task(self._hold(slots, key, order))

    async def _hold(self, slots: Slots, key: str, order: list[str]) -> None:
        async with slots.slot(key):
            order.append(key)
            await self.release.wait()


async def settle() -> None:
    for _ in range(5):
        await asyncio.sleep(0)


async def test_one_key_gets_its_share_and_another_key_still_runs() -> None:
    slots, order = Slots(total=3, per_key=2, wait_seconds=FOREVER), list[str]()
    a = [Holder(slots, "A", order) for _ in range(5)]
    await settle()
    assert order == ["A", "A"] and (slots.running, slots.waiting) == (2, 3)
    b = Holder(slots, "B", order)
    await settle()
    assert order == ["A", "A", "B"]  # B does not wait behind A's three
    for holder in [*a, b]:
        holder.release.set()
    await asyncio.gather(*(h.task for h in [*a, b]))
    assert order.count("A") == 5 and (slots.running, slots.waiting) == (0, 0)


async def one_slot_in_turns(first: str, then: str) -> tuple[Slots, list[str]]:
    """One slot: ``first`` takes it, the keys of ``then`` queue in that order; all run once.
    Who got the slot when."""
    slots, order = Slots(total=1, per_key=1, wait_seconds=FOREVER), list[str]()
    holders = [Holder(slots, first, order)]
    await settle()
    holders += [Holder(slots, key, order) for key in then]
    await settle()
    for holder in holders:
        holder.release.set()
    await asyncio.gather(*(h.task for h in holders))
    return slots, order


async def test_a_free_slot_goes_to_the_key_served_least_recently() -> None:
    _, order = await one_slot_in_turns("A", "AAABC")
    # B and C had no slot yet, A had one: they go first; A's requests in the order they came.
    assert order == ["A", "B", "C", "A", "A", "A"]


async def test_a_request_waits_no_longer_than_the_wait_limit() -> None:
    slots, order = Slots(total=1, per_key=1, wait_seconds=0.05), list[str]()
    holder = Holder(slots, "A", order)
    await settle()
    with pytest.raises(NoSlot):
        async with slots.slot("B"):
            pytest.fail("no slot was free")
    assert (slots.running, slots.waiting) == (1, 0)  # the one that gave up left no trace
    holder.release.set()
    await holder.task
    slots.wait_seconds = 0
    async with slots.slot("B"):  # free now: no wait needed
        assert slots.running == 1


async def test_a_cancelled_waiter_frees_its_place_and_a_given_slot() -> None:
    slots, order = Slots(total=1, per_key=1, wait_seconds=FOREVER), list[str]()
    holder = Holder(slots, "A", order)
    await settle()
    waiter = Holder(slots, "B", order)
    await settle()
    waiter.task.cancel()
    await settle()
    assert slots.waiting == 0
    holder.release.set()
    await holder.task
    assert (slots.running, order) == (0, ["A"])


async def test_limits_must_be_positive() -> None:
    with pytest.raises(ValueError, match="at least 1"):
        Slots(total=0, per_key=1, wait_seconds=1)
    assert Slots(total=2, per_key=5, wait_seconds=1).per_key == 2


async def test_keys_take_turns_while_they_all_wait() -> None:
    slots, order = await one_slot_in_turns("C", "AABBA")
    assert order == ["C", "A", "B", "A", "B", "A"]
    assert (slots.running, slots.waiting, slots._served) == (0, 0, {})
