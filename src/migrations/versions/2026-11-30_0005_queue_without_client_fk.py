"""the order queue's client_id without its own foreign key

Every stored order's trigger row checked `rec_pending_orders.client_id` against
`api_clients` as well: a second FOR KEY SHARE lock on the same client row in each
order's transaction (the order row takes the first), and with many orders of one
client at once PostgreSQL records those lockers in a new MultiXact each time. The
check guarded nothing: the trigger copies the order's own client_id, and a client's
queue rows go with its orders (ON DELETE CASCADE through `order_id`).

Revision ID: 0005_queue_without_client_fk
Revises: 0004_queue_orders_by_trigger
Create Date: 2026-11-30 13:50:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0005_queue_without_client_fk"
down_revision: str | None = "0004_queue_orders_by_trigger"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TABLE = "rec_pending_orders"
CONSTRAINT = "fk_rec_pending_orders_client_id_api_clients"
# SQLite rebuilds the table to change a constraint; the trigger that fills it (0004)
# would name a missing table in between, so it goes and comes back around the rebuild.
SQLITE_TRIGGER = """
CREATE TRIGGER orders_queue_for_counters AFTER INSERT ON orders FOR EACH ROW
BEGIN
    INSERT INTO rec_pending_orders (order_id, client_id)
    VALUES (NEW.id, NEW.client_id);
END
"""


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.drop_constraint(CONSTRAINT, TABLE, type_="foreignkey")
        return
    op.execute("DROP TRIGGER orders_queue_for_counters")
    with op.batch_alter_table(TABLE, recreate="always") as batch_op:
        batch_op.drop_constraint(CONSTRAINT, type_="foreignkey")
    op.execute(SQLITE_TRIGGER)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.create_foreign_key(
            CONSTRAINT, TABLE, "api_clients", ["client_id"], ["id"], ondelete="CASCADE"
        )
        return
    op.execute("DROP TRIGGER orders_queue_for_counters")
    with op.batch_alter_table(TABLE, recreate="always") as batch_op:
        batch_op.create_foreign_key(
            CONSTRAINT, "api_clients", ["client_id"], ["id"], ondelete="CASCADE"
        )
    op.execute(SQLITE_TRIGGER)
