"""Command handlers for the catalog: taxes and items (the pricing rules are in domain/pricing).

An item names its taxes three ways: ``taxes: [{"rate": 22}]`` (the entity's tax with that rate,
created if missing), ``taxes: [{"classification": "standard"}]`` (an existing tax) and
``tax_ids``. Every lookup is done before anything is written, so a refused item leaves no tax
behind. Taxes the item references whose ``tax.created`` is not yet out (the ones it just
created, or one a concurrent command is still announcing) are published before the item.
"""

from __future__ import annotations

from decimal import Decimal

from invoicebus_contracts import CreateItem, CreateTax, ErrorCode, Item, Resource, Tax

from ..adapters.mongo import taxes
from ..adapters.mongo.client import Document
from ..adapters.mongo.store import Store
from ..domain import clock
from ..domain.errors import DomainError
from ..domain.ids import new_id
from ..domain.pricing import canonical, price_item
from .context import CommandContext, Outcome

Loc = list[str | int]


async def create_tax(command: CreateTax, ctx: CommandContext, store: Store) -> Outcome:
    assert ctx.entity_id is not None
    tax = new_tax(ctx.entity_id, canonical(command.rate), command.name, command.classification)
    doc = await taxes.insert(store, ctx.new_document(Resource.TAX, tax))
    return Outcome(Resource.TAX, doc)


async def create_item(command: CreateItem, ctx: CommandContext, store: Store) -> Outcome:
    assert ctx.entity_id is not None
    if ctx.message_id and (original := await _replay(ctx, store)):
        return Outcome(Resource.ITEM, original, await _unannounced(store, original["tax_ids"]))

    found = await _look_up_taxes(command, ctx.entity_id, store)
    _refuse_duplicates([(loc, doc) for loc, _, doc in found if doc is not None])
    resolved: list[tuple[Loc, Document]] = []
    for loc, rate, doc in found:
        resolved.append((loc, doc if doc is not None else await _auto_tax(ctx, store, rate)))
    _refuse_duplicates(resolved)  # a concurrent command may have just created one of them

    tax_docs = [doc for _, doc in resolved]
    pricing = price_item(
        price=command.price,
        gross_price=command.gross_price,
        rates=[taxes.rate_of(doc) for doc in tax_docs],
    )
    now = clock.now()
    item = Item(
        id=new_id(Resource.ITEM),
        name=command.name,
        description=command.description,
        price=pricing.price,
        gross_price=pricing.gross_price,
        total_tax=pricing.total_tax,
        tax_ids=[doc["_id"] for doc in tax_docs],
        unit=command.unit,
        entity_id=ctx.entity_id,
        metadata=command.metadata,
        created_at=now,
        updated_at=now,
    )
    doc = await store.insert(Resource.ITEM, ctx.new_document(Resource.ITEM, item))
    if doc["_id"] != item.id:  # a concurrent delivery of the same command stored it first
        return Outcome(Resource.ITEM, doc, await _unannounced(store, doc["tax_ids"]))
    return Outcome(Resource.ITEM, doc, [(Resource.TAX, t) for t in tax_docs if t.get("_pending")])


def new_tax(
    entity_id: str, rate: Decimal, name: str | None = None, classification: str | None = None
) -> Tax:
    now = clock.now()
    return Tax(
        id=new_id(Resource.TAX),
        name=name,
        rate=rate,
        classification=classification,
        entity_id=entity_id,
        created_at=now,
        updated_at=now,
    )


async def _replay(ctx: CommandContext, store: Store) -> Document | None:
    """The item an earlier delivery of this command created: answered again, nothing redone."""
    assert ctx.message_id is not None
    return await store.replay(
        Resource.ITEM,
        ctx.entity_id,
        command=ctx.resource.create_key,
        key=ctx.message_id,
        fingerprint=ctx.fingerprint,
    )


async def _unannounced(store: Store, tax_ids: list[str]) -> list[tuple[Resource, Document]]:
    return [(Resource.TAX, doc) for doc in await taxes.pending_among(store, tax_ids)]


Found = list[tuple[Loc, Decimal | None, Document | None]]


async def _look_up_taxes(command: CreateItem, entity_id: str, store: Store) -> Found:
    """Each tax the item names, in order: (where it was named, its rate if it is to be created
    when missing, the stored tax or None). Unknown classifications and ids are refused."""
    rates = [canonical(ref.rate) for ref in command.taxes if ref.rate is not None]
    classifications = [ref.classification for ref in command.taxes if ref.classification]
    by_rate = await taxes.by_rates(store, entity_id, rates) if rates else {}
    by_class = (
        await taxes.by_classifications(store, entity_id, classifications) if classifications else {}
    )
    by_id = await taxes.by_ids(store, entity_id, command.tax_ids) if command.tax_ids else {}

    found: Found = []
    for index, ref in enumerate(command.taxes):
        if ref.rate is not None:
            rate = canonical(ref.rate)
            found.append((["taxes", index, "rate"], rate, by_rate.get(rate)))
        else:
            assert ref.classification is not None
            doc = by_class.get(ref.classification)
            if doc is None:
                raise DomainError(
                    ErrorCode.TAX_NOT_FOUND,
                    f"taxes.{index}.classification: no tax with classification"
                    f" {ref.classification!r} exists for this entity; create it first with"
                    " tax.create, or give a rate instead",
                    ["taxes", index, "classification"],
                )
            found.append((["taxes", index, "classification"], None, doc))
    for index, tax_id in enumerate(command.tax_ids):
        if tax_id not in by_id:
            raise DomainError(
                ErrorCode.TAX_NOT_FOUND,
                f"tax_ids.{index}: tax {tax_id!r} does not exist for this entity",
                ["tax_ids", index],
            )
        found.append((["tax_ids", index], None, by_id[tax_id]))
    return found


def _refuse_duplicates(named: list[tuple[Loc, Document]]) -> None:
    """The same tax named twice (e.g. by rate and by id) would count its rate twice."""
    first_named: dict[str, Loc] = {}
    for loc, doc in named:
        first = first_named.setdefault(doc["_id"], loc)
        if first != loc:
            raise DomainError(
                ErrorCode.VALIDATION_ERROR,
                f"duplicate tax: {_path(loc)} names tax {doc['_id']}, already named by"
                f" {_path(first)}; give each tax once",
                loc,
            )


def _path(loc: Loc) -> str:
    return ".".join(map(str, loc))


async def _auto_tax(ctx: CommandContext, store: Store, rate: Decimal | None) -> Document:
    """The entity's tax for ``rate``, created now (its event goes out with the item's)."""
    assert ctx.entity_id is not None
    assert rate is not None  # only rate references are created when missing
    doc = ctx.new_document(Resource.TAX, new_tax(ctx.entity_id, rate), primary=False)
    stored, _ = await taxes.insert_auto(store, doc, rate)
    return stored
