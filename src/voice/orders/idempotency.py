"""Idempotency-Key: the first response to a key is kept and replayed byte for byte.

A key is claimed by inserting its row (the primary key makes the claim atomic), the
work runs, and the response is stored in the same transaction as the order it
created. Failures release the claim so that a retry runs again. Keys live in the
database, never in Redis: an eviction or a Redis outage must not break the promise.
"""

import contextlib
import hashlib
import logging
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import anyio
import orjson
from sqlalchemy import delete, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from src.config import Settings
from src.platform.observability.metrics import IDEMPOTENT_REPLAYS
from src.voice.exceptions import IdempotencyKeyInUse, IdempotencyKeyReused
from src.voice.orders.models import IdempotencyKey

logger = logging.getLogger(__name__)

IN_PROGRESS = "in_progress"
DONE = "done"


def _now() -> datetime:
    return datetime.now(UTC)


def _aware(value: datetime) -> datetime:
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def fingerprint(method: str, path: str, body: Any) -> str:
    """sha256 of the request's meaning: method, path and the canonical (sorted) body."""
    canonical = orjson.dumps(body, option=orjson.OPT_SORT_KEYS)
    digest = hashlib.sha256(f"{method} {path}\n".encode())
    digest.update(canonical)
    return digest.hexdigest()


@dataclass(frozen=True, slots=True)
class StoredResponse:
    status: int
    body: bytes


async def claim(
    *,
    db_session: AsyncSession,
    client_id: str,
    key: str,
    request_fingerprint: str,
    lock_seconds: int,
    ttl_seconds: int,
) -> StoredResponse | None:
    """Claim `key` for this request, or return the stored response to replay.

    Raises IdempotencyKeyReused (other body) or IdempotencyKeyInUse (still running).
    """
    now = _now()
    for _attempt in range(3):
        db_session.add(
            IdempotencyKey(
                client_id=client_id,
                key=key,
                fingerprint=request_fingerprint,
                state=IN_PROGRESS,
                created_at=now,
                locked_until=now + timedelta(seconds=lock_seconds),
            )
        )
        try:
            await db_session.commit()
            return None
        except IntegrityError:
            await db_session.rollback()
        row = (
            await db_session.execute(
                select(IdempotencyKey).where(
                    IdempotencyKey.client_id == client_id, IdempotencyKey.key == key
                )
            )
        ).scalar_one_or_none()
        if row is None:
            continue  # released between our insert and our read: try again
        if _aware(row.created_at) < now - timedelta(seconds=ttl_seconds):
            # Expired: the key may be used afresh.
            await release(db_session=db_session, client_id=client_id, key=key)
            continue
        if row.fingerprint != request_fingerprint:
            raise IdempotencyKeyReused()
        if row.state == DONE and row.response_body is not None:
            return StoredResponse(row.response_status or 200, row.response_body)
        if _aware(row.locked_until) > now:
            raise IdempotencyKeyInUse()
        # The first attempt died mid-way (its lease ran out): take the key over.
        taken = await db_session.execute(
            update(IdempotencyKey)
            .where(
                IdempotencyKey.client_id == client_id,
                IdempotencyKey.key == key,
                IdempotencyKey.state == IN_PROGRESS,
                IdempotencyKey.locked_until == row.locked_until,
            )
            .values(locked_until=now + timedelta(seconds=lock_seconds))
        )
        await db_session.commit()
        if taken.rowcount == 1:  # type: ignore[attr-defined]
            return None
        raise IdempotencyKeyInUse()
    raise IdempotencyKeyInUse()


async def complete(
    *, db_session: AsyncSession, client_id: str, key: str, status: int, body: bytes
) -> None:
    """Store the response; runs inside the caller's transaction (committed with the order)."""
    await db_session.execute(
        update(IdempotencyKey)
        .where(IdempotencyKey.client_id == client_id, IdempotencyKey.key == key)
        .values(state=DONE, response_status=status, response_body=body)
    )


async def release(*, db_session: AsyncSession, client_id: str, key: str) -> None:
    """Forget a claim whose request failed, so that a retry runs again."""
    await db_session.rollback()
    await db_session.execute(
        delete(IdempotencyKey).where(
            IdempotencyKey.client_id == client_id,
            IdempotencyKey.key == key,
            IdempotencyKey.state == IN_PROGRESS,
        )
    )
    await db_session.commit()


class PendingReleases:
    """Claims whose release failed because the database was away.

    Without this, a client retrying with the same key after an outage would get 409
    IDEMPOTENCY_KEY_IN_USE until the lease ran out (IDEMPOTENCY_LOCK_SECONDS); with it,
    the claim is released within moments of the database coming back. Releasing only
    ever deletes a key still `in_progress`: if the failed request's commit did land,
    its stored response stays and the retry replays it.
    """

    def __init__(self, lock_seconds: int) -> None:
        self.lock_seconds = lock_seconds
        self._pending: dict[tuple[str, str], float] = {}

    def add(self, client_id: str, key: str) -> None:
        self._pending[(client_id, key)] = time.monotonic() + self.lock_seconds

    async def retry(self, sessionmaker: async_sessionmaker[AsyncSession]) -> None:
        """Release what can be released now; keep the rest for the next try."""
        now = time.monotonic()
        for (client_id, key), lease_ends in list(self._pending.items()):
            if lease_ends < now:  # the lease ran out: a retry may take the key over
                del self._pending[(client_id, key)]
                continue
            try:
                async with sessionmaker() as db_session:
                    await release(db_session=db_session, client_id=client_id, key=key)
            except Exception:
                return  # still unavailable
            del self._pending[(client_id, key)]

    async def run(
        self, sessionmaker: async_sessionmaker[AsyncSession], interval: float = 0.25
    ) -> None:
        """Background loop for the app's lifespan."""
        while True:
            await anyio.sleep(interval)
            if self._pending:
                await self.retry(sessionmaker)


async def release_quietly(
    *,
    db_session: AsyncSession,
    client_id: str,
    key: str,
    pending: PendingReleases | None = None,
) -> None:
    """`release` for error paths: a failure here must not hide the original error.
    What cannot be released now goes to `pending` (else it waits for its lease)."""
    try:
        await release(db_session=db_session, client_id=client_id, key=key)
    except Exception:
        logger.warning("could not release idempotency key yet", exc_info=True)
        if pending is not None:
            pending.add(client_id, key)


async def claim_request(
    *,
    db_session: AsyncSession,
    settings: Settings,
    client_id: str,
    key: str | None,
    method: str,
    path: str,
    body: Any,
) -> StoredResponse | None:
    """Claim `key` for this request (nothing to do without a key); the stored answer
    of an earlier identical request, counted as a replay, if there is one."""
    if key is None:
        return None
    stored = await claim(
        db_session=db_session,
        client_id=client_id,
        key=key,
        request_fingerprint=fingerprint(method, path, body),
        lock_seconds=settings.IDEMPOTENCY_LOCK_SECONDS,
        ttl_seconds=settings.IDEMPOTENCY_TTL_SECONDS,
    )
    if stored is not None:
        IDEMPOTENT_REPLAYS.inc()
    return stored


@asynccontextmanager
async def released_on_failure(
    *,
    db_session: AsyncSession,
    client_id: str,
    key: str | None,
    pending: PendingReleases | None,
) -> AsyncIterator[None]:
    """Free a claimed `key` when the block fails, so that a retry runs afresh; what the
    block wrote is rolled back first (and its locks let go)."""
    try:
        yield
    except BaseException:
        with contextlib.suppress(Exception):
            await db_session.rollback()
        if key is not None:
            await release_quietly(
                db_session=db_session, client_id=client_id, key=key, pending=pending
            )
        raise


async def purge_expired(*, db_session: AsyncSession, ttl_seconds: int) -> int:
    """Delete keys older than the TTL; returns how many."""
    cutoff = _now() - timedelta(seconds=ttl_seconds)
    result = await db_session.execute(
        delete(IdempotencyKey).where(IdempotencyKey.created_at < cutoff)
    )
    await db_session.commit()
    return int(result.rowcount)  # type: ignore[attr-defined]
