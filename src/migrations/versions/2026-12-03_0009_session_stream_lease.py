"""live streams: which stream holds a session, and until when

Revision ID: 0009_session_stream_lease
Revises: 0008_api_keys
Create Date: 2026-12-03 17:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009_session_stream_lease"
down_revision: str | None = "0008_api_keys"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("order_sessions", sa.Column("stream_id", sa.String(40), nullable=True))
    op.add_column(
        "order_sessions", sa.Column("stream_until", sa.DateTime(timezone=True), nullable=True)
    )


def downgrade() -> None:
    with op.batch_alter_table("order_sessions") as batch:
        batch.drop_column("stream_until")
        batch.drop_column("stream_id")
