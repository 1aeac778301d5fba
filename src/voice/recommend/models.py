"""Recommendation counters: the queue of uncounted orders and the per-client counts."""

from datetime import datetime

from sqlalchemy import (
    JSON,
    BigInteger,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    String,
)
from sqlalchemy.orm import Mapped, mapped_column

from src.database import Base
from src.voice.catalog.models import client_fk


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

    client_id: Mapped[str] = mapped_column(String(40), client_fk(), primary_key=True)
    hour: Mapped[int] = mapped_column(Integer, primary_key=True)  # -1 = all hours
    baskets: Mapped[int] = mapped_column(BigInteger, default=0)


class RecItem(Base):
    """Baskets holding an item, overall (hour -1) and per hour of day."""

    __tablename__ = "rec_items"

    client_id: Mapped[str] = mapped_column(String(40), client_fk(), primary_key=True)
    hour: Mapped[int] = mapped_column(Integer, primary_key=True)
    sku: Mapped[str] = mapped_column(String(64), primary_key=True)
    baskets: Mapped[int] = mapped_column(BigInteger, default=0)


class RecPair(Base):
    """Baskets holding both items; stored in both directions for one-sided lookups."""

    __tablename__ = "rec_pairs"

    client_id: Mapped[str] = mapped_column(String(40), client_fk(), primary_key=True)
    sku: Mapped[str] = mapped_column(String(64), primary_key=True)
    other_sku: Mapped[str] = mapped_column(String(64), primary_key=True)
    baskets: Mapped[int] = mapped_column(BigInteger, default=0)


class RecCustomerItem(Base):
    """A customer's recency-decayed liking of an item, as of `updated_at`."""

    __tablename__ = "rec_customer_items"

    client_id: Mapped[str] = mapped_column(String(40), client_fk(), primary_key=True)
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

    client_id: Mapped[str] = mapped_column(String(40), client_fk(), primary_key=True)
    customer_id: Mapped[str] = mapped_column(String(128), primary_key=True)
    basket_key: Mapped[str] = mapped_column(String(64), primary_key=True)  # sha256 of items
    items: Mapped[list[dict[str, object]]] = mapped_column(JSON)
    times: Mapped[int] = mapped_column(BigInteger, default=0)
    last_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
