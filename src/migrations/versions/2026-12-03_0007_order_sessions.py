"""order sessions and their turns; item availability; orders remember their session

Revision ID: 0007_order_sessions
Revises: 0006_refresh_replay
Create Date: 2026-12-03 12:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007_order_sessions"
down_revision: str | None = "0006_refresh_replay"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column(
        "catalog_items",
        sa.Column("available", sa.Boolean(), nullable=False, server_default=sa.true()),
    )
    op.add_column("orders", sa.Column("session_id", sa.String(40), nullable=True))
    op.create_table(
        "order_sessions",
        sa.Column("id", sa.String(40), primary_key=True),
        sa.Column(
            "client_id",
            sa.String(40),
            sa.ForeignKey("api_clients.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("customer_id", sa.String(128), nullable=True),
        sa.Column("channel", sa.String(16), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("cart", sa.JSON(), nullable=False),
        sa.Column("readback", sa.Text(), nullable=False),
        sa.Column("needs_review", sa.Boolean(), nullable=False),
        sa.Column("order_id", sa.String(40), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index(
        "ix_order_sessions_client_created", "order_sessions", ["client_id", "created_at"]
    )
    op.create_table(
        "session_turns",
        sa.Column("id", sa.String(40), primary_key=True),
        sa.Column(
            "session_id",
            sa.String(40),
            sa.ForeignKey("order_sessions.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column(
            "client_id",
            sa.String(40),
            sa.ForeignKey("api_clients.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("source", sa.String(16), nullable=False),
        sa.Column("transcript", sa.Text(), nullable=False),
        sa.Column("actions", sa.JSON(), nullable=False),
        sa.Column("unmatched", sa.JSON(), nullable=False),
        sa.Column("needs_review", sa.Boolean(), nullable=False),
        sa.Column("done", sa.Boolean(), nullable=False),
        sa.Column("request_id", sa.String(128), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index(
        "ix_session_turns_session_position", "session_turns", ["session_id", "position"]
    )


def downgrade() -> None:
    op.drop_index("ix_session_turns_session_position", table_name="session_turns")
    op.drop_table("session_turns")
    op.drop_index("ix_order_sessions_client_created", table_name="order_sessions")
    op.drop_table("order_sessions")
    # Plain DROP COLUMN (SQLite 3.35+): a batch copy of `orders` would lose its trigger.
    op.drop_column("orders", "session_id")
    op.drop_column("catalog_items", "available")
