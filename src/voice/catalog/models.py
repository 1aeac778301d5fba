"""Catalog tables: a client's menu header, items and modifiers.

Every voice row carries its client_id: one client never sees another's data. Money is
stored as integer minor units (cents, dong): exact on SQLite and PostgreSQL.
"""

from datetime import datetime

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    DateTime,
    ForeignKey,
    Integer,
    String,
    UniqueConstraint,
    func,
    true,
)
from sqlalchemy.orm import Mapped, mapped_column

from src.database import Base


def client_fk() -> ForeignKey:
    """The owning client; its rows go with it."""
    return ForeignKey("api_clients.id", ondelete="CASCADE")


class Catalog(Base):
    """A client's menu header; `version` increases on every replacement."""

    __tablename__ = "catalogs"

    client_id: Mapped[str] = mapped_column(String(40), client_fk(), primary_key=True)
    currency: Mapped[str] = mapped_column(String(3))
    # The languages the catalog declared ("vi,en"); NULL: inferred from its names.
    languages: Mapped[str | None] = mapped_column(String(64), nullable=True)
    version: Mapped[int] = mapped_column(Integer, default=1)
    updated_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now(), onupdate=func.now()
    )


class CatalogItem(Base):
    __tablename__ = "catalog_items"
    __table_args__ = (UniqueConstraint("client_id", "sku"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    client_id: Mapped[str] = mapped_column(String(40), client_fk(), index=True)
    position: Mapped[int] = mapped_column(Integer)
    sku: Mapped[str] = mapped_column(String(64))
    name: Mapped[str] = mapped_column(String(200))
    aliases: Mapped[list[str]] = mapped_column(JSON, default=list)
    price_minor: Mapped[int] = mapped_column(BigInteger)
    category: Mapped[str | None] = mapped_column(String(100), nullable=True)
    # Sold out when false: never added by an order or a turn (PATCH /catalog/items/{sku}).
    available: Mapped[bool] = mapped_column(Boolean, default=True, server_default=true())


class CatalogModifier(Base):
    __tablename__ = "catalog_modifiers"
    __table_args__ = (UniqueConstraint("client_id", "code"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    client_id: Mapped[str] = mapped_column(String(40), client_fk(), index=True)
    position: Mapped[int] = mapped_column(Integer)
    code: Mapped[str] = mapped_column(String(64))
    name: Mapped[str] = mapped_column(String(200))
    aliases: Mapped[list[str]] = mapped_column(JSON, default=list)
    price_minor: Mapped[int] = mapped_column(BigInteger)
    group: Mapped[str | None] = mapped_column("modifier_group", String(64), nullable=True)
