"""Secrets, hashing and JWTs: the pure cryptography of the auth domain."""

import base64
import hashlib
import hmac
import secrets
import time
import uuid
from dataclasses import dataclass
from typing import Any

import jwt
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from cryptography.fernet import Fernet, InvalidToken

from src.auth.constants import (
    ACCESS_TOKEN_TYPE,
    API_KEY_ID_PREFIX,
    API_KEY_PREFIX,
    CLIENT_ID_PREFIX,
    REFRESH_TOKEN_PREFIX,
    SECRET_ID_PREFIX,
    SECRET_KEY_PREFIX,
)

_hasher = PasswordHasher()
_ID_ALPHABET = "abcdefghijklmnopqrstuvwxyz0123456789"


def new_client_id() -> str:
    return f"{CLIENT_ID_PREFIX}{uuid.uuid4().hex[:24]}"


def new_secret_id() -> str:
    return SECRET_ID_PREFIX + "".join(secrets.choice(_ID_ALPHABET) for _ in range(24))


def new_secret_key() -> str:
    """32 random bytes (256 bits), URL-safe; shown to the operator once."""
    return SECRET_KEY_PREFIX + secrets.token_urlsafe(32)


def new_refresh_token() -> str:
    return REFRESH_TOKEN_PREFIX + secrets.token_urlsafe(32)


def hash_secret_key(secret_key: str) -> str:
    """argon2id hash of an API secret key (slow on purpose)."""
    return _hasher.hash(secret_key)


# Verified against when the secret_id is unknown, so that both failures cost the same.
_DUMMY_HASH = hash_secret_key(new_secret_key())


def verify_secret_key(secret_key: str, secret_key_hash: str | None) -> bool:
    """Constant-work check: an unknown client still pays for one argon2 verification."""
    try:
        return _hasher.verify(secret_key_hash or _DUMMY_HASH, secret_key) and bool(secret_key_hash)
    except (VerificationError, InvalidHashError):
        return False


def hash_refresh_token(token: str) -> str:
    """Refresh tokens carry 256 random bits: a fast hash is enough to store them."""
    return hashlib.sha256(token.encode()).hexdigest()


def new_api_key() -> str:
    """A static API key: 32 random bytes (256 bits), URL-safe; shown once."""
    return API_KEY_PREFIX + secrets.token_urlsafe(32)


def new_api_key_id() -> str:
    return f"{API_KEY_ID_PREFIX}{uuid.uuid4().hex[:24]}"


# The keyed hash's key only separates this use of SHA-256 from any other: a key of 256
# random bits cannot be found from its hash, so no secret pepper (one more secret an
# operator could lose, and every key with it) and no slow hash is needed.
_API_KEY_HASH_KEY = b"voice-api api key v1"


def hash_api_key(api_key: str) -> str:
    """HMAC-SHA256 of an API key: fast enough to check on every request (~1 us)."""
    return hmac.new(_API_KEY_HASH_KEY, api_key.encode(), hashlib.sha256).hexdigest()


def _replay_key(refresh_token: str) -> bytes:
    digest = hashlib.sha256(b"voice-api refresh replay\0" + refresh_token.encode()).digest()
    return base64.urlsafe_b64encode(digest)


def seal_pair(pair_json: bytes, refresh_token: str) -> bytes:
    """`pair_json` encrypted and authenticated (Fernet) under a key derived from the
    refresh token it replaces: only a holder of that token can open it."""
    return Fernet(_replay_key(refresh_token)).encrypt(pair_json)


def open_pair(sealed: bytes, refresh_token: str) -> bytes | None:
    """What `seal_pair` sealed for this token, or None if it was not for it."""
    try:
        return Fernet(_replay_key(refresh_token)).decrypt(sealed)
    except InvalidToken:
        return None


def constant_time_equal(left: str, right: str) -> bool:
    return hmac.compare_digest(left.encode(), right.encode())


@dataclass(frozen=True, slots=True)
class AccessClaims:
    client_id: str
    scopes: tuple[str, ...]
    credential_version: int
    token_id: str
    expires_at: int


def create_access_token(
    *,
    client_id: str,
    scopes: list[str],
    credential_version: int,
    secret: str,
    algorithm: str,
    issuer: str,
    lifetime_seconds: int,
) -> str:
    """A signed JWT access token (`typ=access`)."""
    now = int(time.time())
    claims: dict[str, Any] = {
        "iss": issuer,
        "sub": client_id,
        "scope": " ".join(scopes),
        "cv": credential_version,
        "iat": now,
        "exp": now + lifetime_seconds,
        "jti": uuid.uuid4().hex,
        "typ": ACCESS_TOKEN_TYPE,
    }
    return jwt.encode(claims, secret, algorithm=algorithm)


class WrongTokenType(jwt.InvalidTokenError):
    """A well-signed token of another kind where an access token was expected."""


def token_failure_reason(exc: jwt.InvalidTokenError) -> str:
    """Why a token was refused, for `data.reason`: expired, bad_signature, wrong_type
    or malformed."""
    if isinstance(exc, jwt.ExpiredSignatureError):
        return "expired"
    if isinstance(exc, jwt.InvalidSignatureError | jwt.InvalidAlgorithmError):
        return "bad_signature"
    if isinstance(exc, WrongTokenType):
        return "wrong_type"
    return "malformed"


def decode_access_token(
    token: str,
    *,
    secret: str,
    algorithm: str,
    issuer: str,
    leeway: int,
    verify_exp: bool = True,
) -> AccessClaims:
    """Verify signature, algorithm, expiry, issuer and type; raise jwt.InvalidTokenError."""
    # One allowed algorithm: `alg: none` and algorithm confusion fail here.
    payload = jwt.decode(
        token,
        secret,
        algorithms=[algorithm],
        issuer=issuer,
        leeway=leeway,
        options={
            "require": ["exp", "iat", "sub", "jti", "typ", "iss"],
            "verify_exp": verify_exp,
        },
    )
    if payload.get("typ") != ACCESS_TOKEN_TYPE:
        raise WrongTokenType("not an access token")
    credential_version = payload.get("cv")
    if not isinstance(credential_version, int) or not isinstance(payload["sub"], str):
        raise jwt.InvalidTokenError("malformed claims")
    scope = payload.get("scope", "")
    return AccessClaims(
        client_id=payload["sub"],
        scopes=tuple(str(scope).split()),
        credential_version=credential_version,
        token_id=str(payload["jti"]),
        expires_at=int(payload["exp"]),
    )
