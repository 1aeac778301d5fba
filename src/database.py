"""The database as the domains see it: the declarative Base, the request's session
(`DbSession`), dialect upserts, and a session's connection and transaction handling.

The engine itself is made by `src/platform/db/engine.py` in the app's lifespan.
"""

from collections.abc import AsyncIterator
from typing import Annotated, Any

from fastapi import Depends, Request
from sqlalchemy import MetaData, text
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
)
from sqlalchemy.orm import DeclarativeBase

# Explicit constraint names: migrations stay stable across databases.
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    """Declarative base of every table."""

    metadata = MetaData(naming_convention=NAMING_CONVENTION)


def dialect_insert(db_session: AsyncSession) -> Any:
    """`insert` of the session's dialect, which has `on_conflict_do_update` (upserts).

    SQLite and PostgreSQL spell upserts the same way in SQLAlchemy; generic `insert`
    does not have them.
    """
    return insert_of(db_session.get_bind().dialect.name)


def insert_of(dialect_name: str) -> Any:
    """`insert` of the named dialect (see `dialect_insert`), for statements built once."""
    return postgresql.insert if dialect_name == "postgresql" else sqlite.insert


async def check_database(engine: AsyncEngine) -> bool:
    """True when the database answers a trivial query (readiness)."""
    try:
        async with engine.connect() as connection:
            await connection.execute(text("SELECT 1"))
        return True
    except Exception:
        return False


async def release_connection(db_session: AsyncSession) -> None:
    """End the session's transaction and hand its connection back to the pool.

    For a request about to do slow work that needs no database (decoding speech), so
    that other requests can use the connection meanwhile; the session begins anew,
    with a connection from the pool, at its next statement.
    """
    await db_session.commit()


async def use_autocommit(db_session: AsyncSession) -> bool:
    """On PostgreSQL, run a session that has not begun yet without a transaction:
    each statement commits alone, and BEGIN and COMMIT cost no round trips.

    Only for work done in one statement, or in statements that need not stand or
    fall together. Returns False, changing nothing, on SQLite (whose writers take
    turns per transaction) or once the session has begun.
    """
    if db_session.in_transaction() or db_session.get_bind().dialect.name != "postgresql":
        return False
    await db_session.connection(execution_options={"isolation_level": "AUTOCOMMIT"})
    return True


async def get_db_session(request: Request) -> AsyncIterator[AsyncSession]:
    """One session per request; the service decides when to commit."""
    sessionmaker: async_sessionmaker[AsyncSession] = request.state.sessionmaker
    async with sessionmaker() as session:
        yield session


DbSession = Annotated[AsyncSession, Depends(get_db_session)]
