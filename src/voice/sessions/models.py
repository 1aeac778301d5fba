"""Session tables: an order session with its cart, and every turn it took."""

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Boolean, DateTime, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from src.database import Base
from src.voice.catalog.models import client_fk


class OrderSession(Base):
    """A cart built over several turns; `version` grows with every change to it."""

    __tablename__ = "order_sessions"
    __table_args__ = (Index("ix_order_sessions_client_created", "client_id", "created_at"),)

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    client_id: Mapped[str] = mapped_column(String(40), client_fk())
    customer_id: Mapped[str | None] = mapped_column(String(128), nullable=True)
    channel: Mapped[str] = mapped_column(String(16))
    status: Mapped[str] = mapped_column(String(16))  # open | confirmed | cancelled | expired
    version: Mapped[int] = mapped_column(Integer)
    # The cart (lines, priced) and what "undo" returns to: see sessions.cart.cart_to_json.
    cart: Mapped[dict[str, Any]] = mapped_column(JSON)
    readback: Mapped[str] = mapped_column(Text)
    needs_review: Mapped[bool] = mapped_column(Boolean)
    order_id: Mapped[str | None] = mapped_column(String(40), nullable=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    # The live stream that holds the session, until when (renewed while it lives): one
    # stream per session across workers and replicas (see sessions.stream_lease).
    stream_id: Mapped[str | None] = mapped_column(String(40), nullable=True)
    stream_until: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)


class SessionTurn(Base):
    """One utterance of a session and what it did: the audit trail of an order."""

    __tablename__ = "session_turns"
    __table_args__ = (Index("ix_session_turns_session_position", "session_id", "position"),)

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    session_id: Mapped[str] = mapped_column(
        String(40), ForeignKey("order_sessions.id", ondelete="CASCADE")
    )
    client_id: Mapped[str] = mapped_column(String(40), client_fk())
    position: Mapped[int] = mapped_column(Integer)  # the session version it produced
    source: Mapped[str] = mapped_column(String(16))  # text | audio
    transcript: Mapped[str] = mapped_column(Text)
    actions: Mapped[list[dict[str, Any]]] = mapped_column(JSON)
    unmatched: Mapped[list[str]] = mapped_column(JSON)
    needs_review: Mapped[bool] = mapped_column(Boolean)
    done: Mapped[bool] = mapped_column(Boolean)
    request_id: Mapped[str | None] = mapped_column(String(128), nullable=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
