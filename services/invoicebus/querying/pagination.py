"""One page of a list: what to fetch for a request, and the page and cursors it makes (pure).

A page fetches ``limit + 1`` documents in the order of travel: the extra one only tells whether
more follow. Rules (wire contract, "List requests"):

- no cursor: the first page; ``prev_cursor`` is null;
- ``next_cursor``: the documents after the cursor; ``prev_cursor`` leads back to the page it
  came from, so following ``next_cursor`` then ``prev_cursor`` gives the same page again;
- ``prev_cursor``: the documents before the cursor, read backwards and returned in list order;
  ``prev_cursor`` is null when nothing comes before them (the first page again);
- ``next_cursor`` is null on the last page, and ``has_more`` says whether it is set.
"""

from __future__ import annotations

from dataclasses import dataclass

from .compiler import Filter, and_
from .cursors import (
    Cursor,
    Direction,
    Ordering,
    encode_cursor,
    keyset_filter,
    position_of,
)
from .fields import Document
from .seal import Seal


@dataclass(frozen=True)
class PageQuery:
    filter: Filter
    sort: list[tuple[str, int]]
    #: Documents to fetch: one more than the page, to learn whether more follow.
    fetch: int
    limit: int
    backwards: bool
    first: bool


@dataclass(frozen=True)
class Page:
    documents: list[Document]
    next_cursor: str | None
    prev_cursor: str | None

    @property
    def has_more(self) -> bool:
        return self.next_cursor is not None


def page_query(base: Filter, ordering: Ordering, limit: int, cursor: Cursor | None) -> PageQuery:
    """What to fetch for a page of ``base`` (the cursor's sort value must be known)."""
    if cursor is None:
        return PageQuery(base, ordering.sort(), limit + 1, limit, backwards=False, first=True)
    if not cursor.position.known:
        raise ValueError("the cursor's sort value must be read from its document first")
    backwards = cursor.direction is Direction.PREV
    return PageQuery(
        and_(base, keyset_filter(ordering, cursor.position, backwards=backwards)),
        ordering.sort(reverse=backwards),
        limit + 1,
        limit,
        backwards=backwards,
        first=False,
    )


def assemble(
    fetched: list[Document], query: PageQuery, ordering: Ordering, fp: str, seal: Seal
) -> Page:
    """The page (in list order) and its cursors, from what ``query`` fetched."""
    more_in_travel = len(fetched) > query.limit
    documents = fetched[: query.limit]
    if query.backwards:
        documents.reverse()
    if not documents:
        return Page([], None, None)

    def cursor(direction: Direction, doc: Document) -> str:
        return encode_cursor(direction, position_of(doc, ordering), ordering, fp, seal)

    # Travelling forwards, something precedes every page but the first (at least the document
    # the cursor came from); travelling backwards, something follows (the same document).
    more_after = more_in_travel if not query.backwards else True
    more_before = more_in_travel if query.backwards else not query.first
    return Page(
        documents,
        next_cursor=cursor(Direction.NEXT, documents[-1]) if more_after else None,
        prev_cursor=cursor(Direction.PREV, documents[0]) if more_before else None,
    )
