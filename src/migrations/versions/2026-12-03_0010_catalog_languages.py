"""catalog languages: the languages a catalog's customers order in

Revision ID: 0010_catalog_languages
Revises: 0009_session_stream_lease
Create Date: 2026-12-03 18:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010_catalog_languages"
down_revision: str | None = "0009_session_stream_lease"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("catalogs", sa.Column("languages", sa.String(64), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("catalogs") as batch:
        batch.drop_column("languages")
