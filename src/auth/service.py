"""Auth business rules: clients, token issuance, rotation with reuse detection.

Framework-free: no Request, no HTTP. Raises the domain exceptions of `exceptions.py`.
"""

import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import anyio.to_thread
import jwt
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from src.auth import security
from src.auth.constants import (
    DEFAULT_SCOPES,
    KNOWN_SCOPES,
    REFRESH_TOKEN_PATTERN,
    SECRET_ID_PATTERN,
    SECRET_KEY_PATTERN,
)
from src.auth.exceptions import (
    InvalidCredentials,
    InvalidToken,
    RefreshTokenNotValid,
    SecretIdInvalid,
    SecretKeyInvalid,
)
from src.auth.models import ApiClient, RefreshToken
from src.auth.schemas import ClientCredentials, TokenPair
from src.config import Settings
from src.database import release_connection
from src.platform.cache import Cache
from src.platform.observability.metrics import AUTH_FAILURES, TOKENS_ISSUED


def _now() -> datetime:
    return datetime.now(UTC)


def _aware(value: datetime) -> datetime:
    # SQLite returns naive datetimes; everything we store is UTC.
    return value if value.tzinfo else value.replace(tzinfo=UTC)


@dataclass(frozen=True, slots=True)
class AuthenticatedClient:
    """Who is calling, as established by a verified access token or API key."""

    client_id: str
    scopes: tuple[str, ...]
    # Unix time the access token stops working (None for an API key): a live stream
    # finishes its utterance and closes then.
    expires_at: float | None = None


# --- clients (operator CLI) ----------------------------------------------------------


def validate_scopes(scopes: list[str]) -> list[str]:
    unknown = sorted(set(scopes) - KNOWN_SCOPES)
    if unknown:
        raise ValueError(f"unknown scopes: {', '.join(unknown)}")
    return scopes or list(DEFAULT_SCOPES)


async def create_client(
    *, db_session: AsyncSession, name: str, scopes: list[str]
) -> ClientCredentials:
    """Create an API client; returns the only copy of its secret key."""
    secret_key = security.new_secret_key()
    client = ApiClient(
        id=security.new_client_id(),
        name=name,
        secret_id=security.new_secret_id(),
        secret_key_hash=await anyio.to_thread.run_sync(security.hash_secret_key, secret_key),
        scopes=" ".join(validate_scopes(scopes)),
        is_active=True,
        credential_version=1,
    )
    db_session.add(client)
    await db_session.commit()
    return ClientCredentials(client_id=client.id, secret_id=client.secret_id, secret_key=secret_key)


async def get_client_by_secret_id(*, db_session: AsyncSession, secret_id: str) -> ApiClient | None:
    """Returns the client with this public secret_id, or None."""
    result = await db_session.execute(select(ApiClient).where(ApiClient.secret_id == secret_id))
    return result.scalar_one_or_none()


async def list_clients(*, db_session: AsyncSession) -> list[ApiClient]:
    result = await db_session.execute(select(ApiClient).order_by(ApiClient.created_at))
    return list(result.scalars())


async def _revoke_client_tokens(db_session: AsyncSession, client_id: str) -> None:
    await db_session.execute(
        update(RefreshToken)
        .where(RefreshToken.client_id == client_id, RefreshToken.revoked_at.is_(None))
        .values(revoked_at=_now())
    )


_UNKNOWN_CLIENT = (False, -1)


@dataclass(frozen=True, slots=True)
class KeyGrant:
    """What an API key's row says (`api_keys.authenticate_api_key`), as a process caches it."""

    client_id: str
    scopes: tuple[str, ...]
    usable: bool  # not revoked, and its client active


@dataclass(frozen=True, slots=True)
class AuthCaches:
    """What this process remembers of tokens and clients; one per app (its lifespan)."""

    # Access tokens whose signature and claims were verified here already, keyed by
    # (secret, issuer, token): a client sends the same token for its whole lifetime.
    # Expiry is still checked on every use.
    tokens: Cache[tuple[str, str, str], security.AccessClaims] = field(default_factory=Cache)
    # (is_active, credential_version) per client, fresh for AUTH_CACHE_SECONDS: every
    # authenticated request would otherwise read the client row. Disabling or rotating
    # through this process forgets the entry at once; other processes notice within
    # AUTH_CACHE_SECONDS (0 turns the cache off). An unknown client is cached as inactive.
    clients: Cache[str, tuple[bool, int]] = field(default_factory=Cache)
    # API keys by their hash, fresh for AUTH_CACHE_SECONDS: how soon every process
    # notices a revoked key or a disabled client. Unknown keys are never cached.
    api_keys: Cache[str, KeyGrant] = field(default_factory=Cache)


async def disable_client(
    *, db_session: AsyncSession, secret_id: str, caches: AuthCaches | None = None
) -> ApiClient | None:
    """Disable a client: its key, refresh tokens and access tokens stop working."""
    client = await get_client_by_secret_id(db_session=db_session, secret_id=secret_id)
    if client is None:
        return None
    client.is_active = False
    await _revoke_client_tokens(db_session, client.id)
    await db_session.commit()
    if caches is not None:
        caches.clients.forget(client.id)
    return client


async def rotate_secret(
    *, db_session: AsyncSession, secret_id: str, caches: AuthCaches | None = None
) -> ClientCredentials | None:
    """Give a client a new key; the old key and every token issued under it stop working."""
    client = await get_client_by_secret_id(db_session=db_session, secret_id=secret_id)
    if client is None:
        return None
    secret_key = security.new_secret_key()
    client.secret_key_hash = await anyio.to_thread.run_sync(security.hash_secret_key, secret_key)
    client.credential_version += 1
    await _revoke_client_tokens(db_session, client.id)
    await db_session.commit()
    if caches is not None:
        caches.clients.forget(client.id)
    return ClientCredentials(client_id=client.id, secret_id=client.secret_id, secret_key=secret_key)


# --- tokens ----------------------------------------------------------------------------


async def _issue_pair(
    db_session: AsyncSession, client: ApiClient, settings: Settings, family_id: str
) -> TokenPair:
    assert settings.JWT_SECRET is not None
    access_token = security.create_access_token(
        client_id=client.id,
        scopes=client.scope_list,
        credential_version=client.credential_version,
        secret=settings.JWT_SECRET.get_secret_value(),
        algorithm=settings.JWT_ALGORITHM,
        issuer=settings.SERVICE_NAME,
        lifetime_seconds=settings.ACCESS_TOKEN_EXPIRE_SECONDS,
    )
    refresh_token = security.new_refresh_token()
    db_session.add(
        RefreshToken(
            id=uuid.uuid4().hex,
            token_hash=security.hash_refresh_token(refresh_token),
            client_id=client.id,
            family_id=family_id,
            credential_version=client.credential_version,
            expires_at=_now() + timedelta(seconds=settings.REFRESH_TOKEN_EXPIRE_SECONDS),
        )
    )
    return TokenPair(
        access_token=access_token,
        expires_in=settings.ACCESS_TOKEN_EXPIRE_SECONDS,
        refresh_token=refresh_token,
        refresh_expires_in=settings.REFRESH_TOKEN_EXPIRE_SECONDS,
    )


async def issue_tokens(
    *,
    db_session: AsyncSession,
    settings: Settings,
    secret_id: str,
    secret_key: str,
    hashing: anyio.CapacityLimiter | None = None,
) -> TokenPair:
    """Exchange API credentials for an access token and a new refresh-token family.

    The argon2 check runs in a worker thread, at most `hashing`'s capacity at once.
    """
    if not SECRET_ID_PATTERN.match(secret_id):
        AUTH_FAILURES.labels(endpoint="token", reason="secret_id_malformed").inc()
        raise SecretIdInvalid()
    if not SECRET_KEY_PATTERN.match(secret_key):
        AUTH_FAILURES.labels(endpoint="token", reason="secret_key_malformed").inc()
        raise SecretKeyInvalid()
    client = await get_client_by_secret_id(db_session=db_session, secret_id=secret_id)
    # Always one argon2 verification, known id or not: the timing tells nothing.
    stored_hash = client.secret_key_hash if client else None
    # No connection is held while the check waits its turn and runs.
    await release_connection(db_session)
    valid = await anyio.to_thread.run_sync(
        security.verify_secret_key, secret_key, stored_hash, limiter=hashing
    )
    if client is None or not valid or not client.is_active:
        reason = "unknown_client" if client is None else "wrong_key" if not valid else "disabled"
        AUTH_FAILURES.labels(endpoint="token", reason=reason).inc()
        raise InvalidCredentials()
    pair = await _issue_pair(db_session, client, settings, family_id=uuid.uuid4().hex)
    await db_session.commit()
    TOKENS_ISSUED.labels(grant="client_credentials").inc()
    return pair


async def _revoke_family(db_session: AsyncSession, family_id: str) -> None:
    await db_session.execute(
        update(RefreshToken)
        .where(RefreshToken.family_id == family_id, RefreshToken.revoked_at.is_(None))
        .values(revoked_at=_now())
    )


async def refresh_tokens(
    *,
    db_session: AsyncSession,
    settings: Settings,
    refresh_token: str,
    caller_client_id: str | None = None,
) -> TokenPair:
    """Rotate a refresh token. Presenting an already-rotated one revokes its family,
    except within REFRESH_REUSE_GRACE_SECONDS of its rotation: a client retrying a
    refresh whose answer it lost then gets the same new pair again.

    `caller_client_id` is the subject of a bearer token sent along, if any: a client
    cannot redeem another client's refresh token.
    """

    def reject(reason: str) -> RefreshTokenNotValid:
        AUTH_FAILURES.labels(endpoint="refresh", reason=reason).inc()
        return RefreshTokenNotValid()

    if not REFRESH_TOKEN_PATTERN.match(refresh_token):
        raise reject("malformed")
    token_hash = security.hash_refresh_token(refresh_token)
    stored = await _refresh_token_row(db_session, token_hash)
    if stored is None:
        raise reject("unknown")
    if caller_client_id is not None and caller_client_id != stored.client_id:
        raise reject("other_client")
    if stored.revoked_at is not None:
        raise reject("revoked")
    if stored.used_at is None:
        if _aware(stored.expires_at) <= _now():
            raise reject("expired")
        client = await db_session.get(ApiClient, stored.client_id)
        if (
            client is None
            or not client.is_active
            or client.credential_version != stored.credential_version
        ):
            raise reject("client_inactive")
        # Claim the token atomically: of concurrent refreshes only one rotates it; the
        # others wait for its commit and find it rotated (a retry, below).
        pair = await _issue_pair(db_session, client, settings, family_id=stored.family_id)
        claimed = await db_session.execute(
            update(RefreshToken)
            .where(RefreshToken.id == stored.id, RefreshToken.used_at.is_(None))
            .values(
                used_at=_now(),
                replacement=security.seal_pair(pair.model_dump_json().encode(), refresh_token),
            )
        )
        if claimed.rowcount == 1:  # type: ignore[attr-defined]
            await db_session.commit()
            TOKENS_ISSUED.labels(grant="refresh_token").inc()
            return pair
        await db_session.rollback()  # the pair issued above is never handed out
        stored = await _refresh_token_row(db_session, token_hash)
        if stored is None or stored.used_at is None:
            raise reject("reused")
    # Rotated already: a retry within the grace period gets the same pair again.
    grace = timedelta(seconds=settings.REFRESH_REUSE_GRACE_SECONDS)
    replayed = (
        security.open_pair(stored.replacement, refresh_token)
        if stored.replacement is not None and _aware(stored.used_at) + grace > _now()
        else None
    )
    if replayed is not None and stored.revoked_at is None:
        TOKENS_ISSUED.labels(grant="refresh_token_retry").inc()
        return TokenPair.model_validate_json(replayed)
    # Reuse of a rotated token: someone else may hold the family. Kill it all.
    await _revoke_family(db_session, stored.family_id)
    await db_session.commit()
    raise reject("reused")


async def _refresh_token_row(db_session: AsyncSession, token_hash: str) -> RefreshToken | None:
    # Read afresh every time: a concurrent rotation may have changed the row since.
    result = await db_session.execute(
        select(RefreshToken)
        .where(RefreshToken.token_hash == token_hash)
        .execution_options(populate_existing=True)
    )
    return result.scalar_one_or_none()


async def revoke_refresh_token(*, db_session: AsyncSession, refresh_token: str) -> None:
    """Revoke the token's whole family (a logout). Unknown tokens are ignored: idempotent."""
    if not REFRESH_TOKEN_PATTERN.match(refresh_token):
        return
    token_hash = security.hash_refresh_token(refresh_token)
    result = await db_session.execute(
        select(RefreshToken.family_id).where(RefreshToken.token_hash == token_hash)
    )
    family_id = result.scalar_one_or_none()
    if family_id is not None:
        await _revoke_family(db_session, family_id)
        await db_session.commit()


async def authenticate_access_token(
    *,
    sessionmaker: async_sessionmaker[AsyncSession],
    caches: AuthCaches,
    settings: Settings,
    token: str,
) -> AuthenticatedClient:
    """Verify an access token and that its client is still active at that key version.

    The client's state comes from a short cache; `sessionmaker` opens a session only
    when it has to be read.
    """
    assert settings.JWT_SECRET is not None
    secret = settings.JWT_SECRET.get_secret_value()
    key = (secret, settings.SERVICE_NAME, token)
    claims = caches.tokens.get(key)
    if claims is not None and claims.expires_at + settings.JWT_LEEWAY_SECONDS < time.time():
        caches.tokens.forget(key)
        claims = None
    if claims is None:
        try:
            claims = security.decode_access_token(
                token,
                secret=secret,
                algorithm=settings.JWT_ALGORITHM,
                issuer=settings.SERVICE_NAME,
                leeway=settings.JWT_LEEWAY_SECONDS,
            )
        except jwt.InvalidTokenError as exc:
            reason = security.token_failure_reason(exc)
            AUTH_FAILURES.labels(endpoint="access", reason=reason).inc()
            raise InvalidToken(reason) from None
        caches.tokens.put(key, claims)
    state = caches.clients.get(claims.client_id, settings.AUTH_CACHE_SECONDS)
    if state is None:
        async with sessionmaker() as db_session:
            result = await db_session.execute(
                select(ApiClient.is_active, ApiClient.credential_version).where(
                    ApiClient.id == claims.client_id
                )
            )
            row = result.one_or_none()
        state = (
            (bool(row.is_active), int(row.credential_version))
            if row is not None
            else _UNKNOWN_CLIENT
        )
        caches.clients.put(claims.client_id, state)
    if not state[0] or state[1] != claims.credential_version:
        AUTH_FAILURES.labels(endpoint="access", reason="client_inactive").inc()
        raise InvalidToken("revoked")
    return AuthenticatedClient(
        client_id=claims.client_id,
        scopes=claims.scopes,
        expires_at=claims.expires_at + settings.JWT_LEEWAY_SECONDS,
    )


def subject_of_token(token: str, settings: Settings) -> str | None:
    """The client id of a correctly signed access token, expired or not (else None)."""
    assert settings.JWT_SECRET is not None
    try:
        claims = security.decode_access_token(
            token,
            secret=settings.JWT_SECRET.get_secret_value(),
            algorithm=settings.JWT_ALGORITHM,
            issuer=settings.SERVICE_NAME,
            leeway=settings.JWT_LEEWAY_SECONDS,
            verify_exp=False,
        )
    except jwt.InvalidTokenError:
        return None
    return claims.client_id
