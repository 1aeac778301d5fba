"""SQLAlchemy 2 async engine, sessions and the declarative Base.

SQLite (aiosqlite, WAL, foreign keys on) is the embedded default; PostgreSQL (asyncpg)
runs in production. The engine lives in the app's lifespan, one per process.
"""

from collections.abc import AsyncIterator
from typing import Annotated, Any

from fastapi import Depends, Request
from sqlalchemy import MetaData, event, text
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.orm import DeclarativeBase

from src.config import Settings
from src.platform.db.pool import FairAsyncQueuePool, ping_when_idle
from src.platform.db.sqlite_driver import one_trip_creator
from src.platform.db.sqlite_writes import serialize_writes

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


def _sqlite_on_connect(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    # WAL lets readers run beside the one writer; busy_timeout waits for the lock
    # instead of failing with "database is locked" under a few concurrent writers.
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=5000")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


def _rollback_if_open(dbapi_connection: Any, _record: Any, _reset_state: Any) -> None:
    # The pool's reset for SQLite (reset_on_return=None): a rollback only when a
    # transaction is still open. The default rolls back every returned connection,
    # and through aiosqlite each call is a trip to the connection's thread, made
    # while a writer still holds its write turn.
    if dbapi_connection.driver_connection.in_transaction:
        dbapi_connection.rollback()


def create_engine(settings: Settings) -> AsyncEngine:
    """The engine for DATABASE_URL with settings right for its dialect."""
    url = settings.DATABASE_URL
    if url.startswith("sqlite"):
        # Several connections, so reads run side by side; writers take turns
        # (src/platform/db/sqlite_writes.py). A single connection per process also ended the
        # writers' waits inside SQLite, but made reads queue behind each cache refresh
        # under load (GET /catalog at 32 connections: p99 60 ms -> 870 ms).
        pool: dict[str, Any] = {
            "poolclass": FairAsyncQueuePool,
            "pool_size": settings.DATABASE_POOL_SIZE,
            "max_overflow": settings.DATABASE_MAX_OVERFLOW,
            "pool_timeout": settings.DATABASE_POOL_TIMEOUT,
        }
        in_memory = ":memory:" in url  # StaticPool: one connection is the whole database
        if in_memory:
            pool = {}
        engine = create_async_engine(
            url,
            async_creator=one_trip_creator(url, timeout=5),
            pool_reset_on_return=None,
            **pool,
        )
        event.listen(engine.sync_engine, "connect", _sqlite_on_connect)
        event.listen(engine.sync_engine.pool, "reset", _rollback_if_open)
        if not in_memory:
            serialize_writes(engine, settings.DATABASE_POOL_TIMEOUT)
        return engine
    connect_args: dict[str, Any] = {}
    if url.startswith("postgresql+asyncpg"):
        connect_args = {
            "timeout": 3,
            "command_timeout": 15,
            "server_settings": {
                "statement_timeout": str(settings.DATABASE_STATEMENT_TIMEOUT_MS),
                "application_name": settings.SERVICE_NAME,
            },
        }
    engine = create_async_engine(
        url,
        poolclass=FairAsyncQueuePool,
        pool_recycle=1800,
        pool_size=settings.DATABASE_POOL_SIZE,
        max_overflow=settings.DATABASE_MAX_OVERFLOW,
        pool_timeout=settings.DATABASE_POOL_TIMEOUT,
        connect_args=connect_args,
    )
    if settings.DATABASE_POOL_PRE_PING:
        ping_when_idle(engine, settings.DATABASE_POOL_PING_IDLE_SECONDS)
    return engine


def dialect_insert(db_session: AsyncSession) -> Any:
    """`insert` of the session's dialect, which has `on_conflict_do_update` (upserts).

    SQLite and PostgreSQL spell upserts the same way in SQLAlchemy; generic `insert`
    does not have them.
    """
    return insert_of(db_session.get_bind().dialect.name)


def insert_of(dialect_name: str) -> Any:
    """`insert` of the named dialect (see `dialect_insert`), for statements built once."""
    return postgresql.insert if dialect_name == "postgresql" else sqlite.insert


def create_sessionmaker(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, expire_on_commit=False, autoflush=False)


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
