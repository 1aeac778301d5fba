"""Catalog rules: atomic replacement, reads, and the prepared (parsed) form cache."""

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, NamedTuple, cast

import anyio.to_thread
from sqlalchemy import CursorResult, Row, Table, bindparam, delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from src.database import dialect_insert
from src.platform.cache import Cache
from src.voice.catalog.index import CatalogIndex
from src.voice.catalog.languages import inferred_languages
from src.voice.catalog.models import Catalog, CatalogItem, CatalogModifier
from src.voice.catalog.schemas import (
    AvailabilitySaved,
    CatalogIn,
    CatalogItemOut,
    CatalogModifierOut,
    CatalogOut,
    CatalogSaved,
)
from src.voice.exceptions import ItemNotFound
from src.voice.money import from_minor, to_minor


@dataclass(frozen=True, slots=True)
class PreparedCatalog:
    """What an order needs of a catalog version: the parse index, names and prices."""

    version: int
    currency: str
    index: CatalogIndex
    item_names: dict[str, str]
    item_prices: dict[str, int]  # minor units
    modifier_prices: dict[str, int]
    # Hot words for the recogniser, most useful first (see speech_phrases()).
    speech_phrases: tuple[str, ...] = ()
    # Sold-out SKUs: recognised when asked for, never ordered.
    unavailable: frozenset[str] = frozenset()
    speech_language: str | None = None


class CurrentVersions:
    """Each client's current catalog version as this process last read or wrote it.

    Lets `GET /catalog` answer without a database round trip. A replacement made by
    this process is seen at once; one made by another worker or host once the entry
    is older than the reader's `max_age`. Orders parse against the last seen version
    and check it in the statement that stores them (`orders.store.store_order`).
    """

    def __init__(self) -> None:
        self._versions: Cache[str, tuple[int, str]] = Cache()

    def get(self, client_id: str, max_age: float) -> tuple[int, str] | None:
        """(version, currency) if fresh; None when the caller should read the database."""
        return self._versions.get(client_id, max_age)

    def last_seen(self, client_id: str) -> int | None:
        """The version this process saw last, however long ago."""
        known = self._versions.peek(client_id)
        return known[0] if known is not None else None

    def put(self, client_id: str, version: int, currency: str) -> None:
        """Record a version read or written now (never rolling a newer one back)."""
        known = self._versions.peek(client_id)
        if known is not None and known[0] > version:
            # A slower reader must not roll a newer version back; the newer one is
            # still current (versions only grow), so it counts as just confirmed.
            version, currency = known
        self._versions.put(client_id, (version, currency))


@dataclass(frozen=True, slots=True)
class CatalogCaches:
    """What this process keeps of catalogs; made by the voice lifespan, one per app."""

    # Per (client, version): a new version is a new key, so nothing is ever stale.
    prepared: Cache[tuple[str, int], PreparedCatalog] = field(
        default_factory=lambda: Cache(max_entries=256)
    )
    # The whole `GET /catalog` response body per (client, version), rendered once.
    bodies: Cache[tuple[str, int], bytes] = field(default_factory=lambda: Cache(max_entries=256))
    versions: CurrentVersions = field(default_factory=CurrentVersions)


async def _bump_version(
    db_session: AsyncSession, client_id: str, currency: str, languages: list[str] | None
) -> int:
    # An upsert takes the row lock first, so concurrent replacements serialise
    # instead of colliding on the item rows.
    insert = dialect_insert(db_session)
    declared = ",".join(languages) if languages else None
    upsert = (
        insert(Catalog)
        .values(client_id=client_id, currency=currency, languages=declared, version=1)
        .on_conflict_do_update(
            index_elements=[Catalog.client_id],
            set_={"currency": currency, "languages": declared, "version": Catalog.version + 1},
        )
        .returning(Catalog.version)
    )
    result = await db_session.execute(upsert)
    return int(result.scalar_one())


async def replace_catalog(
    *,
    db_session: AsyncSession,
    caches: CatalogCaches,
    client_id: str,
    catalog: CatalogIn,
    commit: bool = True,
) -> CatalogSaved:
    """Replace the client's whole catalog; returns the new version.

    Commits unless `commit` is False: then the caller's transaction holds the
    replacement along with whatever else it writes (the CSV import).
    """
    version = await _bump_version(db_session, client_id, catalog.currency, catalog.languages)
    await db_session.execute(delete(CatalogItem).where(CatalogItem.client_id == client_id))
    await db_session.execute(delete(CatalogModifier).where(CatalogModifier.client_id == client_id))
    db_session.add_all(
        CatalogItem(
            client_id=client_id,
            position=position,
            sku=item.sku,
            name=item.name,
            aliases=item.aliases,
            price_minor=to_minor(item.price, catalog.currency),
            category=item.category,
            available=item.available,
        )
        for position, item in enumerate(catalog.items)
    )
    db_session.add_all(
        CatalogModifier(
            client_id=client_id,
            position=position,
            code=modifier.code,
            name=modifier.name,
            aliases=modifier.aliases,
            price_minor=to_minor(modifier.price, catalog.currency),
            group=modifier.group,
        )
        for position, modifier in enumerate(catalog.modifiers)
    )
    await db_session.flush()  # readable by the rest of the caller's transaction
    if commit:
        await db_session.commit()
        caches.versions.put(client_id, version, catalog.currency)
    return CatalogSaved(items=len(catalog.items), modifiers=len(catalog.modifiers), version=version)


async def set_availability(
    *, db_session: AsyncSession, caches: CatalogCaches, client_id: str, sku: str, available: bool
) -> AvailabilitySaved:
    """Mark one item sold out (or back) without replacing the catalog.

    It makes a new catalog version, like a replacement: orders parsed against the old
    one are parsed again before they are stored, so none stores a sold-out item.
    """
    updated = await db_session.execute(
        update(CatalogItem)
        .where(CatalogItem.client_id == client_id, CatalogItem.sku == sku)
        .values(available=available)
    )
    if cast(CursorResult[Any], updated).rowcount == 0:
        await db_session.rollback()
        raise ItemNotFound()
    bumped = await db_session.execute(
        update(Catalog)
        .where(Catalog.client_id == client_id)
        .values(version=Catalog.version + 1)
        .returning(Catalog.version, Catalog.currency)
    )
    version, currency = bumped.one()
    await db_session.commit()
    caches.versions.put(client_id, version, currency)
    return AvailabilitySaved(sku=sku, available=available, version=version)


class CatalogHeader(NamedTuple):
    version: int
    currency: str


_CATALOGS = cast(Table, Catalog.__table__)
# Read on every order: a Core select of two columns, not an ORM load into the identity
# map, built once so that it keeps its compiled-cache key.
_READ_HEADER = select(_CATALOGS.c.version, _CATALOGS.c.currency).where(
    _CATALOGS.c.client_id == bindparam("client_id")
)


async def get_catalog_header(*, db_session: AsyncSession, client_id: str) -> CatalogHeader | None:
    """Returns the client's catalog header (version, currency), or None."""
    row = (await db_session.execute(_READ_HEADER, {"client_id": client_id})).first()
    return CatalogHeader(row.version, row.currency) if row is not None else None


async def _load_rows(
    db_session: AsyncSession, client_id: str
) -> tuple[list[Row[Any]], list[Row[Any]]]:
    # Plain rows, not ORM objects: a big catalog loads several times faster, and the
    # event loop serves every tenant meanwhile.
    items = await db_session.execute(
        select(
            CatalogItem.sku,
            CatalogItem.name,
            CatalogItem.aliases,
            CatalogItem.price_minor,
            CatalogItem.category,
            CatalogItem.available,
        )
        .where(CatalogItem.client_id == client_id)
        .order_by(CatalogItem.position)
    )
    modifiers = await db_session.execute(
        select(
            CatalogModifier.code,
            CatalogModifier.name,
            CatalogModifier.aliases,
            CatalogModifier.price_minor,
            CatalogModifier.group,
        )
        .where(CatalogModifier.client_id == client_id)
        .order_by(CatalogModifier.position)
    )
    return list(items), list(modifiers)


async def read_catalog_body(
    *,
    sessionmaker: async_sessionmaker[AsyncSession],
    caches: CatalogCaches,
    client_id: str,
    max_age: float,
    render: Callable[[CatalogOut], bytes],
) -> bytes | None:
    """The client's catalog as sent, with its version, rendered by `render` (the
    router's response body), or None if there is none.

    Rendered once per version. While the version this process knows is younger than
    `max_age` seconds no session is even opened.
    """
    known = caches.versions.get(client_id, max_age)
    if known is not None:
        body = caches.bodies.get((client_id, known[0]))
        if body is not None:
            return body
    async with sessionmaker() as db_session:
        header = await get_catalog_header(db_session=db_session, client_id=client_id)
        if header is None:
            return None
        caches.versions.put(client_id, header.version, header.currency)
        body = caches.bodies.get((client_id, header.version))
        if body is None:
            view = await _catalog_view(db_session, client_id, header)
            body = render(view)
            caches.bodies.put((client_id, header.version), body)
    return body


_READ_LANGUAGES = select(_CATALOGS.c.languages).where(
    _CATALOGS.c.client_id == bindparam("client_id")
)


async def _declared_languages(db_session: AsyncSession, client_id: str) -> tuple[str, ...] | None:
    """The languages the catalog declared, or None (then they are inferred)."""
    declared = (await db_session.execute(_READ_LANGUAGES, {"client_id": client_id})).scalar()
    return tuple(declared.split(",")) if declared else None


def _languages_of(declared: tuple[str, ...] | None, items: Sequence[Any]) -> tuple[str, ...]:
    if declared:
        return declared
    return inferred_languages([i.name for i in items] + [a for i in items for a in i.aliases])


async def _catalog_view(
    db_session: AsyncSession, client_id: str, header: CatalogHeader
) -> CatalogOut:
    items, modifiers = await _load_rows(db_session, client_id)
    declared = await _declared_languages(db_session, client_id)
    currency = header.currency
    return CatalogOut(
        currency=currency,
        languages=list(_languages_of(declared, items)),
        version=header.version,
        items=[
            CatalogItemOut(
                sku=i.sku,
                name=i.name,
                aliases=list(i.aliases),
                price=from_minor(i.price_minor, currency),
                category=i.category,
                available=i.available,
            )
            for i in items
        ],
        modifiers=[
            CatalogModifierOut(
                code=m.code,
                name=m.name,
                aliases=list(m.aliases),
                price=from_minor(m.price_minor, currency),
                group=m.group,
            )
            for m in modifiers
        ],
    )


async def get_prepared_catalog(
    *, db_session: AsyncSession, caches: CatalogCaches, client_id: str, last_seen: bool = False
) -> PreparedCatalog | None:
    """The prepared catalog of the client's current version (cached per version).

    With `last_seen`, the version this process saw last is taken without reading the
    database when it is prepared already: the caller must check that it is still
    current where it writes (`orders.store.store_order` does).
    """
    if last_seen:
        version = caches.versions.last_seen(client_id)
        known = caches.prepared.get((client_id, version)) if version is not None else None
        if known is not None:
            return known
    header = await get_catalog_header(db_session=db_session, client_id=client_id)
    if header is None:
        return None
    cached = caches.prepared.get((client_id, header.version))
    if cached is not None:
        caches.versions.put(client_id, header.version, header.currency)
        return cached
    items, modifiers = await _load_rows(db_session, client_id)
    declared = await _declared_languages(db_session, client_id)
    prepared = PreparedCatalog(
        version=header.version,
        currency=header.currency,
        index=await build_index(
            [(i.sku, i.name, list(i.aliases)) for i in items],
            [(m.code, m.name, list(m.aliases), m.group) for m in modifiers],
            _languages_of(declared, items),
        ),
        # The recogniser's language, when the catalog said (else a multilingual
        # model detects it).
        speech_language=declared[0] if declared else None,
        item_names={i.sku: i.name for i in items},
        item_prices={i.sku: i.price_minor for i in items},
        modifier_prices={m.code: m.price_minor for m in modifiers},
        speech_phrases=speech_phrases([i.name for i in items], [m.name for m in modifiers]),
        unavailable=frozenset(i.sku for i in items if not i.available),
    )
    caches.prepared.put((client_id, prepared.version), prepared)
    caches.versions.put(client_id, prepared.version, prepared.currency)
    return prepared


# Recorded as a client's version when it has no catalog (real versions start at 1): a
# catalog-less client's speech requests need not ask the database every time.
NO_CATALOG_VERSION = 0


async def get_recent_prepared_catalog(
    *, db_session: AsyncSession, caches: CatalogCaches, client_id: str, max_age: float
) -> PreparedCatalog | None:
    """The client's prepared catalog as this process knew it less than `max_age`
    seconds ago (no database read), else as the database has it now; None when it has
    none (also remembered for `max_age`)."""
    known = caches.versions.get(client_id, max_age)
    if known is not None:
        if known[0] == NO_CATALOG_VERSION:
            return None
        prepared = caches.prepared.get((client_id, known[0]))
        if prepared is not None:
            return prepared
    prepared = await get_prepared_catalog(db_session=db_session, caches=caches, client_id=client_id)
    if prepared is None:
        caches.versions.put(client_id, NO_CATALOG_VERSION, "")
    return prepared


# Catalogs with more entries than this are indexed in a worker thread: a big one
# takes a good part of a second, and the event loop serves every tenant meanwhile.
INDEX_INLINE_ENTRIES = 300


async def build_index(
    items: list[tuple[str, str, list[str]]],
    modifiers: list[tuple[str, str, list[str], str | None]],
    languages: tuple[str, ...] = ("en",),
) -> CatalogIndex:
    """`CatalogIndex.build`, off the event loop for a big catalog."""
    if len(items) + len(modifiers) <= INDEX_INLINE_ENTRIES:
        return CatalogIndex.build(items, modifiers, languages)
    return await anyio.to_thread.run_sync(CatalogIndex.build, items, modifiers, languages)


def speech_phrases(item_names: list[str], modifier_names: list[str]) -> tuple[str, ...]:
    """Names to bias the recogniser with: items, then modifiers, ASCII before the rest.

    Names only, no aliases: the hot-word budget is about 223 tokens and diacritics
    cost several tokens each, so aliases would crowd out the modifiers (measured in
    docs/BENCHMARKS.md). Aliases still match in the parser.
    """
    names = [*item_names, *modifier_names]
    ordered = [n for n in names if n.isascii()] + [n for n in names if not n.isascii()]
    return tuple(dict.fromkeys(ordered))


def price_of(prepared: PreparedCatalog, sku: str, modifiers: tuple[str, ...] | list[str]) -> int:
    """Unit price in minor units: the item plus its modifiers."""
    return prepared.item_prices[sku] + sum(prepared.modifier_prices[m] for m in modifiers)


def as_decimal(minor: int, prepared: PreparedCatalog) -> Decimal:
    return from_minor(minor, prepared.currency)
