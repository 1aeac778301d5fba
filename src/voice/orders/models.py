"""Order tables: stored orders, their lines, and Idempotency-Key records."""

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
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from src.database import Base
from src.voice.catalog.models import client_fk


class Order(Base):
    """A stored order; lines are priced at the time of ordering."""

    __tablename__ = "orders"
    __table_args__ = (
        Index("ix_orders_client_created", "client_id", "created_at", "id"),
        Index("ix_orders_client_customer_created", "client_id", "customer_id", "created_at"),
    )

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    client_id: Mapped[str] = mapped_column(String(40), client_fk())
    customer_id: Mapped[str | None] = mapped_column(String(128), nullable=True)
    source: Mapped[str] = mapped_column(String(16))  # text | audio | import
    transcript: Mapped[str | None] = mapped_column(Text, nullable=True)
    unmatched: Mapped[list[str]] = mapped_column(JSON, default=list)
    currency: Mapped[str] = mapped_column(String(3))
    total_minor: Mapped[int] = mapped_column(BigInteger)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    # The order session it was confirmed from, if any.
    session_id: Mapped[str | None] = mapped_column(String(40), nullable=True, default=None)

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

    client_id: Mapped[str] = mapped_column(String(40), client_fk(), primary_key=True)
    key: Mapped[str] = mapped_column(String(255), primary_key=True)
    fingerprint: Mapped[str] = mapped_column(String(64))
    state: Mapped[str] = mapped_column(String(16))  # in_progress | done
    response_status: Mapped[int | None] = mapped_column(Integer, nullable=True)
    response_body: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)
    locked_until: Mapped[datetime] = mapped_column(DateTime(timezone=True))
