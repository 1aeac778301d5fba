"""One live stream per session at a time, on every worker and replica.

A stream claims its session with a conditional UPDATE of the session row (free, or
its holder's lease run out), renews the lease while it lives and gives it back when
it ends. A worker that dies holding one frees the session when the lease runs out
(LEASE_SECONDS), so a client reconnecting after a crash waits that long at most.
"""

import uuid
from datetime import UTC, datetime, timedelta
from typing import cast

from sqlalchemy import ColumnElement, CursorResult, Executable, Table, and_, or_, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from src.voice.sessions.models import OrderSession

LEASE_SECONDS = 30.0
# Renewed on the first message after this long: a live stream sends one at least every
# IDLE_SECONDS (30 s) and usually many a second.
RENEW_EVERY_SECONDS = 10.0

_SESSIONS = cast(Table, OrderSession.__table__)


async def _rows_changed(db_session: AsyncSession, statement: Executable) -> int:
    result = cast(CursorResult[object], await db_session.execute(statement))
    await db_session.commit()
    return result.rowcount


class StreamLease:
    """The lease of one stream on one session."""

    def __init__(
        self, sessionmaker: async_sessionmaker[AsyncSession], client_id: str, session_id: str
    ) -> None:
        self.sessionmaker = sessionmaker
        self.client_id = client_id
        self.session_id = session_id
        self.stream_id = uuid.uuid4().hex
        self.held = False
        self._renewed_at = datetime.min.replace(tzinfo=UTC)

    async def claim(self) -> bool:
        """Take the session for this stream; False while another stream holds it."""
        now = datetime.now(UTC)
        statement = (
            update(_SESSIONS)
            .where(
                _SESSIONS.c.id == self.session_id,
                _SESSIONS.c.client_id == self.client_id,
                or_(_SESSIONS.c.stream_id.is_(None), _SESSIONS.c.stream_until < now),
            )
            .values(stream_id=self.stream_id, stream_until=now + timedelta(seconds=LEASE_SECONDS))
        )
        async with self.sessionmaker() as db_session:
            self.held = await _rows_changed(db_session, statement) == 1
        self._renewed_at = now
        return self.held

    async def keep(self) -> bool:
        """Renew the lease when due; False if it was lost (taken over after it ran out)."""
        now = datetime.now(UTC)
        if (now - self._renewed_at).total_seconds() < RENEW_EVERY_SECONDS:
            return self.held
        statement = (
            update(_SESSIONS)
            .where(self._mine())
            .values(stream_until=now + timedelta(seconds=LEASE_SECONDS))
        )
        async with self.sessionmaker() as db_session:
            self.held = await _rows_changed(db_session, statement) == 1
        self._renewed_at = now
        return self.held

    async def release(self) -> None:
        """Give the session back (if this stream still holds it)."""
        if not self.held:
            return
        self.held = False
        statement = update(_SESSIONS).where(self._mine()).values(stream_id=None, stream_until=None)
        async with self.sessionmaker() as db_session:
            await _rows_changed(db_session, statement)

    def _mine(self) -> ColumnElement[bool]:
        return and_(_SESSIONS.c.id == self.session_id, _SESSIONS.c.stream_id == self.stream_id)
