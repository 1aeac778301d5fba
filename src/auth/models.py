"""Auth tables: API clients and refresh tokens (hashes only, never secrets)."""

from datetime import datetime

from sqlalchemy import Boolean, DateTime, ForeignKey, Integer, LargeBinary, String, func
from sqlalchemy.orm import Mapped, mapped_column

from src.database import Base


class ApiClient(Base):
    """A merchant integration: a public secret_id and the argon2 hash of its key."""

    __tablename__ = "api_clients"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    secret_id: Mapped[str] = mapped_column(String(64), unique=True)
    secret_key_hash: Mapped[str] = mapped_column(String(255))
    scopes: Mapped[str] = mapped_column(String(255), default="voice")
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)
    # Bumped by rotate-secret: access tokens carry it, so old ones stop working.
    credential_version: Mapped[int] = mapped_column(Integer, default=1)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    updated_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now(), onupdate=func.now()
    )

    @property
    def scope_list(self) -> list[str]:
        return self.scopes.split()


class RefreshToken(Base):
    """One refresh token of a rotation family; `used_at` marks a rotated token."""

    __tablename__ = "refresh_tokens"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    client_id: Mapped[str] = mapped_column(
        String(40), ForeignKey("api_clients.id", ondelete="CASCADE"), index=True
    )
    family_id: Mapped[str] = mapped_column(String(40), index=True)
    credential_version: Mapped[int] = mapped_column(Integer)
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    used_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    # The pair this token was rotated into, sealed with a key derived from this token
    # (security.seal_pair): replayed to a retry within REFRESH_REUSE_GRACE_SECONDS.
    replacement: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True)


class ApiKey(Base):
    """A static API key of a client (for tools that cannot refresh a token): its hash
    only. It carries its client's scopes and budget; revoking it is final."""

    __tablename__ = "api_keys"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    client_id: Mapped[str] = mapped_column(
        String(40), ForeignKey("api_clients.id", ondelete="CASCADE"), index=True
    )
    name: Mapped[str] = mapped_column(String(200))
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    # The key's first characters, so that an operator can tell keys apart in a list.
    shown: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
