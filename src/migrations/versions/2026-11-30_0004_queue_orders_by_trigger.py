"""queue each new order for the recommendation counters with a trigger

An order used to queue itself with a third INSERT in its own transaction: one more
statement and one more round trip (on SQLite, one more trip to the connection's
thread while holding the write turn) for every order. The database does it now, in
the same transaction, for every row inserted into `orders`, whoever inserts it.

Revision ID: 0004_queue_orders_by_trigger
Revises: 0003_recommendation_queue
Create Date: 2026-11-30 11:10:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0004_queue_orders_by_trigger"
down_revision: str | None = "0003_recommendation_queue"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TRIGGER = "orders_queue_for_counters"


def upgrade() -> None:
    if _postgresql():
        op.execute(
            f"""
            CREATE FUNCTION {TRIGGER}() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN
                INSERT INTO rec_pending_orders (order_id, client_id)
                VALUES (NEW.id, NEW.client_id);
                RETURN NULL;
            END $$
            """
        )
        op.execute(
            f"CREATE TRIGGER {TRIGGER} AFTER INSERT ON orders "
            f"FOR EACH ROW EXECUTE FUNCTION {TRIGGER}()"
        )
    else:
        op.execute(
            f"""
            CREATE TRIGGER {TRIGGER} AFTER INSERT ON orders FOR EACH ROW
            BEGIN
                INSERT INTO rec_pending_orders (order_id, client_id)
                VALUES (NEW.id, NEW.client_id);
            END
            """
        )


def downgrade() -> None:
    # The code of revision 0003 queues its orders itself again.
    op.execute(f"DROP TRIGGER {TRIGGER} ON orders" if _postgresql() else f"DROP TRIGGER {TRIGGER}")
    if _postgresql():
        op.execute(f"DROP FUNCTION {TRIGGER}()")


def _postgresql() -> bool:
    return op.get_bind().dialect.name == "postgresql"
