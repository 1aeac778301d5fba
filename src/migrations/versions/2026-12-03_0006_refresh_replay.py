"""refresh tokens keep the pair they were rotated into, sealed, for a retry

A client that lost the answer to a refresh presents the same token again; within
REFRESH_REUSE_GRACE_SECONDS it gets the same new pair back instead of having the
family revoked as stolen. The pair is sealed with a key derived from the rotated
token itself, so the column alone gives nothing away.

Revision ID: 0006_refresh_replay
Revises: 0005_queue_without_client_fk
Create Date: 2026-12-03 08:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006_refresh_replay"
down_revision: str | None = "0005_queue_without_client_fk"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("refresh_tokens", sa.Column("replacement", sa.LargeBinary(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("refresh_tokens") as batch:
        batch.drop_column("replacement")
