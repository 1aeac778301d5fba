"""Voice tables. Every row carries its client_id: one client never sees another's data.

Money is stored as integer minor units (cents, dong): exact on SQLite and PostgreSQL.
"""

from datetime import datetime

from sqlalchemy import (
    JSON,
    BigInteger,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
    func,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from src.database import Base


def _client_fk() -> ForeignKey:
    return ForeignKey("api_clients.id", ondelete="CASCADE")


class Catalog(Base):
    """A client's menu header; `version` increases on every replacement."""

    __tablename__ = "catalogs"

    client_id: Mapped[str] = mapped_column(String(40), _client_fk(), primary_key=True)
    currency: Mapped[str] = mapped_column(String(3))
    version: Mapped[int] = mapped_column(Integer, default=1)
    updated_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now(), onupdate=func.now()
    )


class CatalogItem(Base):
    __tablename__ = "catalog_items"
    __table_args__ = (UniqueConstraint("client_id", "sku"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    client_id: Mapped[str] = mapped_column(String(40), _client_fk(), index=True)
    position: Mapped[int] = mapped_column(Integer)
    sku: Mapped[str] = mapped_column(String(64))
    name: Mapped[str] = mapped_column(String(200))
    aliases: Mapped[list[str]] = mapped_column(JSON, default=list)
    price_minor: Mapped[int] = mapped_column(BigInteger)
    category: Mapped[str | None] = mapped_column(String(100), nullable=True)


class CatalogModifier(Base):
    __tablename__ = "catalog_modifiers"
    __table_args__ = (UniqueConstraint("client_id", "code"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    client_id: Mapped[str] = mapped_column(String(40), _client_fk(), index=True)
    position: Mapped[int] = mapped_column(Integer)
    code: Mapped[str] = mapped_column(String(64))
    name: Mapped[str] = mapped_column(String(200))
    aliases: Mapped[list[str]] = mapped_column(JSON, default=list)
    price_minor: Mapped[int] = mapped_column(BigInteger)
    group: Mapped[str | None] = mapped_column("modifier_group", String(64), nullable=True)


class Order(Base):
    """A stored order; lines are priced at the time of ordering."""

    __tablename__ = "orders"
    __table_args__ = (
        Index("ix_orders_client_created", "client_id", "created_at", "id"),
        Index("ix_orders_client_customer_created", "client_id", "customer_id", "created_at"),
    )

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    client_id: Mapped[str] = mapped_column(String(40), _client_fk())
    customer_id: Mapped[str | None] = mapped_column(String(128), nullable=True)
    source: Mapped[str] = mapped_column(String(16))  # text | audio | import
    transcript: Mapped[str | None] = mapped_column(Text, nullable=True)
    unmatched: Mapped[list[str]] = mapped_column(JSON, default=list)
    currency: Mapped[str] = mapped_column(String(3))
    total_minor: Mapped[int] = mapped_column(BigInteger)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))

    lines: Mapped[list["OrderLine"]] = relationship(
        back_populates="order",
        order_by="OrderLine.position",
        cascade="all, delete-orphan",
        lazy="selectin",
    )


class OrderLine(Base):
    __tablename__ = "order_lines"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    order_id: Mapped[str] = mapped_column(
        String(40), ForeignKey("orders.id", ondelete="CASCADE"), index=True
    )
    position: Mapped[int] = mapped_column(Integer)
    sku: Mapped[str] = mapped_column(String(64))
    name: Mapped[str] = mapped_column(String(200))
    quantity: Mapped[int] = mapped_column(Integer)
    modifiers: Mapped[list[str]] = mapped_column(JSON, default=list)
    unit_price_minor: Mapped[int] = mapped_column(BigInteger)
    line_total_minor: Mapped[int] = mapped_column(BigInteger)
    matched_text: Mapped[str | None] = mapped_column(Text, nullable=True)
    confidence: Mapped[float | None] = mapped_column(nullable=True)

    order: Mapped[Order] = relationship(back_populates="lines")


class IdempotencyKey(Base):
    """The first response to an Idempotency-Key, replayed byte for byte on retries.

    The primary key (client_id, key) is the lock: of two concurrent first requests
    only one can insert the row.
    """

    __tablename__ = "idempotency_keys"

    client_id: Mapped[str] = mapped_column(String(40), _client_fk(), primary_key=True)
    key: Mapped[str] = mapped_column(String(255), primary_key=True)
    fingerprint: Mapped[str] = mapped_column(String(64))
    state: Mapped[str] = mapped_column(String(16))  # in_progress | done
    response_status: Mapped[int | None] = mapped_column(Integer, nullable=True)
    response_body: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)
    locked_until: Mapped[datetime] = mapped_column(DateTime(timezone=True))


# -- recommendation counters: an order is queued for counting when it is stored and
# folded into these shortly after (voice/recommendation_counters.py), so that a
# recommendation never scans the order history.


class RecPendingOrder(Base):
    """A stored order whose basket is not in the counters yet.

    Written in the order's own transaction by a trigger on `orders` (migration 0004;
    a plain insert: concurrent orders never wait for each other here), deleted by the
    fold that counts it, or by an import or recount that counts it itself.
    """

    __tablename__ = "rec_pending_orders"

    order_id: Mapped[str] = mapped_column(
        String(40), ForeignKey("orders.id", ondelete="CASCADE"), primary_key=True
    )
    # The order's client, copied by the trigger; no foreign key of its own (migration
    # 0005): the order row has one, and its queue row goes with it.
    client_id: Mapped[str] = mapped_column(String(40), index=True)


class RecTotal(Base):
    """Baskets stored per client, overall and per hour of day (UTC)."""

    __tablename__ = "rec_totals"

    client_id: Mapped[str] = mapped_column(String(40), _client_fk(), primary_key=True)
    hour: Mapped[int] = mapped_column(Integer, primary_key=True)  # -1 = all hours
    baskets: Mapped[int] = mapped_column(BigInteger, default=0)


class RecItem(Base):
    """Baskets holding an item, overall (hour -1) and per hour of day."""

    __tablename__ = "rec_items"

    client_id: Mapped[str] = mapped_column(String(40), _client_fk(), primary_key=True)
    hour: Mapped[int] = mapped_column(Integer, primary_key=True)
    sku: Mapped[str] = mapped_column(String(64), primary_key=True)
    baskets: Mapped[int] = mapped_column(BigInteger, default=0)


class RecPair(Base):
    """Baskets holding both items; stored in both directions for one-sided lookups."""

    __tablename__ = "rec_pairs"

    client_id: Mapped[str] = mapped_column(String(40), _client_fk(), primary_key=True)
    sku: Mapped[str] = mapped_column(String(64), primary_key=True)
    other_sku: Mapped[str] = mapped_column(String(64), primary_key=True)
    baskets: Mapped[int] = mapped_column(BigInteger, default=0)


class RecCustomerItem(Base):
    """A customer's recency-decayed liking of an item, as of `updated_at`."""

    __tablename__ = "rec_customer_items"

    client_id: Mapped[str] = mapped_column(String(40), _client_fk(), primary_key=True)
    customer_id: Mapped[str] = mapped_column(String(128), primary_key=True)
    sku: Mapped[str] = mapped_column(String(64), primary_key=True)
    weight: Mapped[float] = mapped_column(default=0.0)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class RecCustomerBasket(Base):
    """How often a customer ordered exactly this basket (for `usual_order`)."""

    __tablename__ = "rec_customer_baskets"
    __table_args__ = (
        Index("ix_rec_customer_baskets_rank", "client_id", "customer_id", "times", "last_at"),
    )

    client_id: Mapped[str] = mapped_column(String(40), _client_fk(), primary_key=True)
    customer_id: Mapped[str] = mapped_column(String(128), primary_key=True)
    basket_key: Mapped[str] = mapped_column(String(64), primary_key=True)  # sha256 of items
    items: Mapped[list[dict[str, object]]] = mapped_column(JSON)
    times: Mapped[int] = mapped_column(BigInteger, default=0)
    last_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
