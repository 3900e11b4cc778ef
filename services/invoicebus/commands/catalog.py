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

from ..domain import clock
from ..domain.errors import DomainError, Loc
from ..domain.ids import new_id
from ..domain.pricing import canonical, price_item
from ..domain.records import Record
from .context import CommandContext, Outcome
from .ports import Store

TaxRecord = Record[Tax]


async def create_tax(command: CreateTax, ctx: CommandContext, store: Store) -> Outcome:
    assert ctx.entity_id is not None
    tax = new_tax(ctx.entity_id, canonical(command.rate), command.name, command.classification)
    return Outcome(await store.taxes.add(ctx.record(Resource.TAX, tax), ctx.key))


async def create_item(command: CreateItem, ctx: CommandContext, store: Store) -> Outcome:
    assert ctx.entity_id is not None
    # No read by key before the insert: the unique key index decides whether this is a repeat
    # (``store.add`` then returns the original). Only a command that is about to create a tax
    # asks first, so a repeat, or a conflicting reuse of its key, creates no tax.
    found = await _look_up_taxes(command, ctx.entity_id, store)
    _refuse_duplicates([(loc, tax) for loc, _, tax in found if tax is not None])
    creates_taxes = any(tax is None for _, _, tax in found)
    if (
        creates_taxes
        and ctx.key
        and (original := await store.find_original(Resource.ITEM, ctx.entity_id, ctx.key))
    ):
        # An earlier delivery of this command created it: answered again, nothing redone.
        return Outcome(original, await store.taxes.pending_among(original.model.tax_ids))
    resolved: list[tuple[Loc, TaxRecord]] = []
    for loc, rate, tax in found:
        resolved.append((loc, tax if tax is not None else await _auto_tax(ctx, store, rate)))
    _refuse_duplicates(resolved)  # a concurrent command may have just created one of them

    taxes = [tax for _, tax in resolved]
    pricing = price_item(
        price=command.price,
        gross_price=command.gross_price,
        rates=[tax.model.rate for tax in taxes],
    )
    now = clock.now()
    item = Item(
        id=new_id(Resource.ITEM),
        name=command.name,
        description=command.description,
        price=pricing.price,
        gross_price=pricing.gross_price,
        total_tax=pricing.total_tax,
        tax_ids=[tax.id for tax in taxes],
        unit=command.unit,
        entity_id=ctx.entity_id,
        metadata=command.metadata,
        created_at=now,
        updated_at=now,
    )
    stored = await store.add(ctx.record(Resource.ITEM, item), ctx.key)
    if stored.id != item.id:  # a concurrent delivery of the same command stored it first
        return Outcome(stored, await store.taxes.pending_among(stored.model.tax_ids))
    return Outcome(stored, [tax for tax in taxes if tax.pending])


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


Found = list[tuple[Loc, Decimal | None, TaxRecord | None]]


async def _look_up_taxes(command: CreateItem, entity_id: str, store: Store) -> Found:
    """Each tax the item names, in order: (where it was named, its rate if it is to be created
    when missing, the stored tax or None). Unknown classifications and ids are refused."""
    taxes = store.taxes
    rates = [canonical(ref.rate) for ref in command.taxes if ref.rate is not None]
    classifications = [ref.classification for ref in command.taxes if ref.classification]
    by_rate = await taxes.by_rates(entity_id, rates) if rates else {}
    by_class = await taxes.by_classifications(entity_id, classifications) if classifications else {}
    by_id = await taxes.by_ids(entity_id, command.tax_ids) if command.tax_ids else {}

    found: Found = []
    for index, ref in enumerate(command.taxes):
        if ref.rate is not None:
            rate = canonical(ref.rate)
            found.append((["taxes", index, "rate"], rate, by_rate.get(rate)))
        else:
            assert ref.classification is not None
            tax = by_class.get(ref.classification)
            if tax is None:
                raise DomainError(
                    ErrorCode.TAX_NOT_FOUND,
                    f"taxes.{index}.classification: no tax with classification"
                    f" {ref.classification!r} exists for this entity; create it first with"
                    " tax.create, or give a rate instead",
                    ["taxes", index, "classification"],
                )
            found.append((["taxes", index, "classification"], None, tax))
    for index, tax_id in enumerate(command.tax_ids):
        if tax_id not in by_id:
            raise DomainError(
                ErrorCode.TAX_NOT_FOUND,
                f"tax_ids.{index}: tax {tax_id!r} does not exist for this entity",
                ["tax_ids", index],
            )
        found.append((["tax_ids", index], None, by_id[tax_id]))
    return found


def _refuse_duplicates(named: list[tuple[Loc, TaxRecord]]) -> None:
    """The same tax named twice (e.g. by rate and by id) would count its rate twice."""
    first_named: dict[str, Loc] = {}
    for loc, tax in named:
        first = first_named.setdefault(tax.id, loc)
        if first != loc:
            raise DomainError(
                ErrorCode.VALIDATION_ERROR,
                f"duplicate tax: {_path(loc)} names tax {tax.id}, already named by"
                f" {_path(first)}; give each tax once",
                loc,
            )


def _path(loc: Loc) -> str:
    return ".".join(map(str, loc))


async def _auto_tax(ctx: CommandContext, store: Store, rate: Decimal | None) -> TaxRecord:
    """The entity's tax for ``rate``, created now (its event goes out with the item's)."""
    assert ctx.entity_id is not None
    assert rate is not None  # only rate references are created when missing
    return await store.taxes.add_auto(ctx.record(Resource.TAX, new_tax(ctx.entity_id, rate)), rate)
