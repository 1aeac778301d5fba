"""Static API keys: made, listed and revoked by the operator CLI, checked per request.

A key is `vk_` and 256 random bits; only its keyed hash is stored (`security.hash_api_key`),
so checking one costs a hash and, at most every AUTH_CACHE_SECONDS per process, one
indexed read. That read is also how a revocation reaches every worker and replica:
each process re-reads a key's row once its cached state is AUTH_CACHE_SECONDS old.
"""

from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from src.auth import security
from src.auth.constants import API_KEY_PATTERN, API_KEY_SHOWN_CHARS
from src.auth.exceptions import InvalidToken
from src.auth.models import ApiClient, ApiKey
from src.auth.service import AuthCaches, AuthenticatedClient, KeyGrant, get_client_by_secret_id
from src.config import Settings
from src.platform.observability.metrics import AUTH_FAILURES


@dataclass(frozen=True, slots=True)
class IssuedApiKey:
    """A new key as the operator sees it, once."""

    key_id: str
    client_id: str
    name: str
    api_key: str


@dataclass(frozen=True, slots=True)
class ApiKeySummary:
    key_id: str
    client_id: str
    secret_id: str
    name: str
    shown: str
    created_at: datetime
    revoked_at: datetime | None


class ClientNotFound(LookupError):
    """No client has this secret_id."""


class ClientDisabled(ValueError):
    """A disabled client gets no new key."""


async def create_api_key(*, db_session: AsyncSession, secret_id: str, name: str) -> IssuedApiKey:
    """A new key for the client with `secret_id`; the returned key is its only copy."""
    client = await get_client_by_secret_id(db_session=db_session, secret_id=secret_id)
    if client is None:
        raise ClientNotFound(secret_id)
    if not client.is_active:
        raise ClientDisabled(secret_id)
    api_key = security.new_api_key()
    row = ApiKey(
        id=security.new_api_key_id(),
        client_id=client.id,
        name=name,
        key_hash=security.hash_api_key(api_key),
        shown=api_key[:API_KEY_SHOWN_CHARS],
    )
    db_session.add(row)
    await db_session.commit()
    return IssuedApiKey(key_id=row.id, client_id=client.id, name=name, api_key=api_key)


async def list_api_keys(
    *, db_session: AsyncSession, secret_id: str | None = None
) -> list[ApiKeySummary]:
    """Every key (of one client when `secret_id` is given), oldest first."""
    query = (
        select(ApiKey, ApiClient.secret_id)
        .join(ApiClient, ApiClient.id == ApiKey.client_id)
        .order_by(ApiKey.created_at, ApiKey.id)
    )
    if secret_id is not None:
        query = query.where(ApiClient.secret_id == secret_id)
    rows = (await db_session.execute(query)).all()
    return [
        ApiKeySummary(
            key_id=key.id,
            client_id=key.client_id,
            secret_id=client_secret_id,
            name=key.name,
            shown=key.shown,
            created_at=key.created_at,
            revoked_at=key.revoked_at,
        )
        for key, client_secret_id in rows
    ]


async def revoke_api_key(*, db_session: AsyncSession, key: str) -> ApiKeySummary | None:
    """Revoke a key named by its id (`key_...`) or by the key itself (`vk_...`).

    None when no key matches. Revoking a revoked key changes nothing (idempotent).
    """
    if API_KEY_PATTERN.match(key):
        match = ApiKey.key_hash == security.hash_api_key(key)
    else:
        match = ApiKey.id == key
    key_id = (await db_session.execute(select(ApiKey.id).where(match))).scalar_one_or_none()
    if key_id is None:
        return None
    await db_session.execute(
        update(ApiKey)
        .where(ApiKey.id == key_id, ApiKey.revoked_at.is_(None))
        .values(revoked_at=datetime.now(UTC))
    )
    await db_session.commit()
    return next(k for k in await list_api_keys(db_session=db_session) if k.key_id == key_id)


async def authenticate_api_key(
    *,
    sessionmaker: async_sessionmaker[AsyncSession],
    caches: AuthCaches,
    settings: Settings,
    api_key: str,
) -> AuthenticatedClient:
    """The client of a valid, unrevoked key of an active client; InvalidToken else."""
    if not API_KEY_PATTERN.match(api_key):
        AUTH_FAILURES.labels(endpoint="access", reason="api_key_malformed").inc()
        raise InvalidToken("malformed")
    key_hash = security.hash_api_key(api_key)
    grant = caches.api_keys.get(key_hash, settings.AUTH_CACHE_SECONDS)
    if grant is None:
        async with sessionmaker() as db_session:
            row = (
                await db_session.execute(
                    select(
                        ApiKey.client_id, ApiKey.revoked_at, ApiClient.is_active, ApiClient.scopes
                    )
                    .join(ApiClient, ApiClient.id == ApiKey.client_id)
                    .where(ApiKey.key_hash == key_hash)
                )
            ).one_or_none()
        if row is None:
            # Not cached: a key made a moment ago works at once, and guesses cannot
            # push real keys out of the cache.
            AUTH_FAILURES.labels(endpoint="access", reason="api_key_unknown").inc()
            raise InvalidToken("unknown")
        grant = KeyGrant(
            client_id=row.client_id,
            scopes=tuple(row.scopes.split()),
            usable=row.revoked_at is None and bool(row.is_active),
        )
        caches.api_keys.put(key_hash, grant)
    if not grant.usable:
        AUTH_FAILURES.labels(endpoint="access", reason="api_key_revoked").inc()
        raise InvalidToken("revoked")
    return AuthenticatedClient(client_id=grant.client_id, scopes=grant.scopes)
