"""aiosqlite connections that make one trip to their thread per statement.

aiosqlite runs each call on the connection's own thread, and SQLAlchemy's aiosqlite
adapter awaits four such calls for a SELECT (cursor, execute, fetchall, close) and
three for an INSERT. Each trip costs the event loop ~40 us of CPU and the request ~80
us of waiting on this 2-core machine; a text order made 14 of them. Here a cursor is
a plain holder made on the event loop, and `execute` runs the statement, reads its
description, row count and last row id and fetches the first rows in one trip (an
order now makes 5). Only a result larger than PREFETCH_ROWS keeps its sqlite3 cursor
open and takes further trips to fetch the rest (streamed reads, `yield_per`).

It is still aiosqlite: the connection, its thread, its queue, its transactions and
SQLAlchemy's adapter around them are unchanged; the engine gets it through
`async_creator`.
"""

import sqlite3
from collections.abc import Awaitable, Callable, Sequence
from functools import partial
from typing import Any

import aiosqlite
from sqlalchemy import make_url

PREFETCH_ROWS = 1000

Row = Any


class OneTripCursor:
    """The cursor SQLAlchemy's adapter uses, one trip per statement."""

    def __init__(self, connection: "OneTripConnection") -> None:
        self._connection = connection
        self._open: sqlite3.Cursor | None = None  # only while rows remain unfetched
        self._rows: list[Row] = []
        self.description: Any = None
        self.rowcount = -1
        self.lastrowid: int | None = None
        self.arraysize = 1

    async def execute(self, sql: str, parameters: Any = None) -> "OneTripCursor":
        """Run one statement and fetch its first rows, in one trip."""

        def run() -> tuple[list[Row], Any, int, int | None, sqlite3.Cursor | None]:
            cursor = self._connection.sqlite_connection.cursor()
            try:
                if parameters is None:
                    cursor.execute(sql)
                else:
                    cursor.execute(sql, parameters)
                rows = cursor.fetchmany(PREFETCH_ROWS) if cursor.description else []
                # Read after fetching: a RETURNING statement counts rows as they come.
                facts = (cursor.description, cursor.rowcount, cursor.lastrowid)
                more = len(rows) == PREFETCH_ROWS
            except BaseException:
                cursor.close()
                raise
            if not more:
                cursor.close()
            return rows, *facts, cursor if more else None

        await self.close()  # a cursor run again drops what its last result left
        (
            self._rows,
            self.description,
            self.rowcount,
            self.lastrowid,
            self._open,
        ) = await self._connection.on_thread(run)
        return self

    async def executemany(self, sql: str, parameters: Sequence[Any]) -> "OneTripCursor":
        """Run one statement for each parameter set, in one trip."""

        def run() -> tuple[int, int | None]:
            cursor = self._connection.sqlite_connection.cursor()
            try:
                cursor.executemany(sql, parameters)
                return cursor.rowcount, cursor.lastrowid
            finally:
                cursor.close()

        await self.close()
        self.description = None
        self.rowcount, self.lastrowid = await self._connection.on_thread(run)
        return self

    async def fetchall(self) -> list[Row]:
        """Every remaining row."""
        rows, self._rows = self._rows, []
        if self._open is not None:
            open_cursor, self._open = self._open, None

            def rest() -> list[Row]:
                try:
                    return open_cursor.fetchall()
                finally:
                    open_cursor.close()

            rows.extend(await self._connection.on_thread(rest))
        return rows

    async def fetchmany(self, size: int | None = None) -> list[Row]:
        """Up to `size` (default `arraysize`) more rows."""
        wanted = size or self.arraysize
        if len(self._rows) < wanted and self._open is not None:
            open_cursor = self._open
            batch = max(wanted, PREFETCH_ROWS)
            more: list[Row] = await self._connection.on_thread(open_cursor.fetchmany, batch)
            self._rows.extend(more)
            if len(more) < batch:
                self._open = None
                await self._connection.on_thread(open_cursor.close)
        rows, self._rows = self._rows[:wanted], self._rows[wanted:]
        return rows

    async def fetchone(self) -> Row | None:
        """The next row, or None."""
        rows = await self.fetchmany(1)
        return rows[0] if rows else None

    async def close(self) -> None:
        """Forget the result (a trip only if its sqlite3 cursor is still open)."""
        self._rows = []
        if self._open is not None:
            open_cursor, self._open = self._open, None
            await self._connection.on_thread(open_cursor.close)


class OneTripConnection(aiosqlite.Connection):
    """An aiosqlite connection whose cursors make one trip per statement."""

    @property
    def sqlite_connection(self) -> sqlite3.Connection:
        """The sqlite3 connection: only for code that runs on this connection's thread."""
        return self._conn

    async def on_thread(self, function: Callable[..., Any], *args: Any) -> Any:
        """Run `function(*args)` on the connection's thread (one trip)."""
        return await self._execute(function, *args)  # type: ignore[no-untyped-call]

    async def cursor(self) -> OneTripCursor:  # type: ignore[override]
        """A new cursor, made here: no trip."""
        return OneTripCursor(self)


def one_trip_creator(
    database_url: str, **connect_args: Any
) -> Callable[[], Awaitable[OneTripConnection]]:
    """`async_creator` for an aiosqlite engine: connections as SQLAlchemy would open them
    (same file, URI and thread arguments, read from the URL, plus `connect_args`),
    made one-trip."""
    url = make_url(database_url)
    args, kwargs = url.get_dialect()().create_connect_args(url)
    kwargs.update(connect_args)

    async def connect() -> OneTripConnection:
        connection = OneTripConnection(partial(sqlite3.connect, *args, **kwargs), 64)
        connection._thread.daemon = True  # as SQLAlchemy makes aiosqlite's own
        await connection  # starts the thread and connects
        return connection

    return connect
