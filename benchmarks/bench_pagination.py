"""Pagination benchmark: keyset pages (what the query service does) against skip/limit.

    python benchmarks/bench_pagination.py [--documents 5000] [--limit 100] [--repeat 5]

Uses ``MONGODB_URL`` when set, else starts its own SecantusDB in a temporary directory. It
stores N customers of one entity (plus as many of another entity, so the entity scope matters),
then times the same pages fetched two ways, through the read repository the query service uses:

- keyset: ``limit + 1`` documents after the previous page's cursor (no skipping);
- skip: the classic ``skip(page * limit).limit(limit + 1)``, the baseline.

It prints the median latency per page at several depths, and the skip/keyset ratio. Both ways
are checked to return the same documents. Nothing here is asserted: figures vary by machine.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import tempfile
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path
from typing import Any

from bson import ObjectId

from invoicebus.adapters.mongo.client import collection, connect
from invoicebus.adapters.mongo.documents import to_document
from invoicebus.adapters.mongo.embedded import EmbeddedMongo
from invoicebus.adapters.mongo.reader import Reader
from invoicebus.querying.compiler import compile_query
from invoicebus.querying.cursors import (
    Cursor,
    Direction,
    decode_cursor,
    fingerprint,
    parse_order_by,
)
from invoicebus.querying.pagination import assemble, page_query
from invoicebus.querying.seal import Seal
from invoicebus_contracts import Customer, Resource

CUSTOMER = Resource.CUSTOMER
SEAL = Seal(b"benchmark")
#: The reads are timed, not limited: a day.
NO_LIMIT_MS = 86_400_000
T0 = datetime(2024, 1, 1, tzinfo=UTC)


def customers(entity_id: str, n: int) -> list[dict[str, Any]]:
    """``n`` customers with repeating names (ties) and one-second-apart creation times."""
    blank = dict.fromkeys(
        ("email", "address", "address_2", "post_code", "city", "state", "country",
         "country_code", "tax_number"),
    )  # fmt: skip
    docs = []
    for i in range(n):
        moment = T0 + timedelta(seconds=i)
        model = Customer(
            id=f"cust_{ObjectId()}", name=f"Customer {(i * 7919) % 5000:05d}",
            entity_id=entity_id, metadata={}, created_at=moment, updated_at=moment, **blank,
        )  # fmt: skip
        docs.append(to_document(CUSTOMER, model))
    return docs


async def timed(repeat: int, call: Callable[[], Awaitable[list[Any]]]) -> tuple[float, list[Any]]:
    """Median milliseconds of ``repeat`` calls, and the last result."""
    times, result = [], []
    for _ in range(repeat):
        start = time.perf_counter()
        result = await call()
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times), result


async def skip_page(
    db: Any, filter: dict[str, Any], sort: list[tuple[str, int]], skip: int, limit: int
) -> list[Any]:
    """The baseline: the same page by skipping the documents before it."""
    found = collection(db, CUSTOMER).find(filter, sort=sort, skip=skip, limit=limit)
    return await found.to_list()


async def bench(url: str, documents: int, limit: int, repeat: int) -> None:
    client = connect(url)
    db = client[f"bench_pagination_{ObjectId()}"]
    reader = Reader(db)
    try:
        await reader.ensure_query_indexes()
        entity, neighbour = f"ent_{ObjectId()}", f"ent_{ObjectId()}"
        start = time.perf_counter()
        for owner in (entity, neighbour):
            docs = customers(owner, documents)
            for i in range(0, len(docs), 1000):
                await collection(db, CUSTOMER).insert_many(docs[i : i + 1000])
        elapsed = time.perf_counter() - start
        print(f"server: {'SecantusDB' if await reader.is_secantus() else 'MongoDB'} ({url})")
        print(f"stored {2 * documents} customers (2 entities) in {elapsed:.1f}s "
              f"({2 * documents / elapsed:.0f}/s)\n")  # fmt: skip

        base = {"entity_id": entity}
        print(f"{'order_by':10} {'page':>6} {'keyset ms':>10} {'skip ms':>10} {'skip/keyset':>12}")
        for order_by in ("id", "name"):
            ordering = parse_order_by(CUSTOMER, order_by)
            fp = fingerprint(CUSTOMER, entity, ordering, compile_query(CUSTOMER, None).canonical)
            # Walk every page once to learn the cursor that leads to each.
            cursors: list[Cursor | None] = [None]
            while True:
                query = page_query(base, ordering, limit, cursors[-1])
                fetched = await reader.find(
                    CUSTOMER, query.filter, query.sort, query.fetch, time_limit_ms=NO_LIMIT_MS
                )
                page = assemble(fetched, query, ordering, fp, SEAL)
                if page.next_cursor is None:
                    break
                cursors.append(decode_cursor(page.next_cursor, Direction.NEXT, ordering, fp, SEAL))
            pages = len(cursors)
            for number in sorted({0, 1, pages // 10, pages // 2, pages - 1}):
                query = page_query(base, ordering, limit, cursors[number])
                keyset = partial(
                    reader.find,
                    CUSTOMER,
                    query.filter,
                    query.sort,
                    query.fetch,
                    time_limit_ms=NO_LIMIT_MS,
                )
                skip = partial(skip_page, db, base, ordering.sort(), number * limit, limit + 1)
                keyset_ms, by_keyset = await timed(repeat, keyset)
                skip_ms, by_skip = await timed(repeat, skip)
                same = [d["_id"] for d in by_keyset] == [d["_id"] for d in by_skip]
                assert same, f"page {number + 1}: keyset and skip disagree"
                print(f"{order_by:10} {number + 1:>6} {keyset_ms:>10.1f} {skip_ms:>10.1f} "
                      f"{skip_ms / keyset_ms:>11.1f}x")  # fmt: skip
        if await reader.is_secantus():
            print(
                "\nSecantusDB reads every matching document after the cursor and sorts them in"
                " memory, so a keyset page costs less the deeper it is, while a skip page reads"
                " everything each time; ordered by a field other than id, the keyset filter has"
                " an $or, which it evaluates without an index. On MongoDB a keyset page walks"
                " the list index from the cursor (about the same cost at any depth) and a skip"
                " page grows with its depth."
            )
    finally:
        await client.drop_database(db.name)
        await client.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--documents", type=int, default=5_000, help="customers per entity")
    parser.add_argument("--limit", type=int, default=100, help="page size")
    parser.add_argument("--repeat", type=int, default=5, help="timings per page (median)")
    args = parser.parse_args()
    if url := os.environ.get("MONGODB_URL"):
        asyncio.run(bench(url, args.documents, args.limit, args.repeat))
        return
    with tempfile.TemporaryDirectory(prefix="bench-pagination-") as tmp:
        server = EmbeddedMongo(Path(tmp) / "db", log_path=Path(tmp) / "secantus.log")
        server.start()
        try:
            asyncio.run(bench(server.url, args.documents, args.limit, args.repeat))
        finally:
            server.stop()


if __name__ == "__main__":
    main()
