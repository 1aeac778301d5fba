"""Settings: init arguments > environment > `.env` > `config.yaml` > defaults.

Every tunable of the service is a field here with a type and a default that is right
for LOCAL; nothing else reads `os.environ` (see DESIGN.md).
"""

import os
import secrets
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import (
    BaseSettings,
    NoDecode,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    YamlConfigSettingsSource,
)

from src.constants import Environment

PROJECT_ROOT = Path(__file__).resolve().parent.parent

# Anchored on the project, not the working directory: gunicorn's chdir or a cron job
# must not silently fall back to defaults (pydantic-settings skips missing files).
CONFIG_FILE_ENV = "VOICE_API_CONFIG"
DEFAULT_CONFIG_FILE = PROJECT_ROOT / "config.yaml"

CommaList = Annotated[list[str], NoDecode]


def config_file_path() -> Path:
    """The YAML file that supplies defaults (override with VOICE_API_CONFIG)."""
    return Path(os.environ.get(CONFIG_FILE_ENV) or DEFAULT_CONFIG_FILE)


class Settings(BaseSettings):
    """All settings of the service. Names match API.md; see README for meanings."""

    model_config = SettingsConfigDict(
        env_file=".env",
        env_file_encoding="utf-8",
        env_ignore_empty=True,
        extra="ignore",
        case_sensitive=True,
    )

    ENVIRONMENT: Environment = Environment.LOCAL
    SERVICE_NAME: str = "voice-api"
    APP_VERSION: str = "1"

    DATABASE_URL: str = "sqlite+aiosqlite:///./voice.db"
    # Per worker. PostgreSQL answers fastest with few connections at work at once
    # (about twice its cores across all workers); a request waits here, in turn, for
    # a connection instead (src/platform/db/pool.py). No overflow by default: a load
    # hovering above the pool would otherwise connect anew all the time. Figures:
    # docs/OPERATIONS.md, database connections.
    DATABASE_POOL_SIZE: int = Field(default=4, ge=1, le=200)
    # A ping before use finds connections PostgreSQL dropped (restarts, idle kills)
    # before a request does; only connections idle longer than
    # DATABASE_POOL_PING_IDLE_SECONDS are pinged (0: every checkout), as a ping is three
    # round trips on asyncpg. Off, a dead connection fails one request (503) and the
    # pool is discarded.
    DATABASE_POOL_PRE_PING: bool = True
    DATABASE_POOL_PING_IDLE_SECONDS: float = Field(default=1.0, ge=0, le=3600)
    DATABASE_MAX_OVERFLOW: int = Field(default=0, ge=0, le=200)
    DATABASE_POOL_TIMEOUT: float = Field(default=3.0, gt=0)
    DATABASE_STATEMENT_TIMEOUT_MS: int = Field(default=10_000, ge=0)

    RATE_LIMIT_ENABLED: bool = True
    RATE_LIMIT_STORAGE_URI: str = "memory://"
    RATE_LIMIT_STRATEGY: str = "fixed-window"
    RATE_LIMIT_DEFAULT: str = "600/minute"
    RATE_LIMIT_AUTH: str = "10/minute"
    RATE_LIMIT_STORAGE_TIMEOUT: float = Field(default=0.1, gt=0)
    TRUSTED_PROXIES: CommaList = Field(default_factory=list)

    ELASTICSEARCH_HOST: str = ""
    ELASTICSEARCH_INDEX_PREFIX: str = "voice-api-logs"
    ELASTICSEARCH_API_KEY: SecretStr | None = None
    ELASTICSEARCH_INSTALL_TEMPLATE: bool = True
    LOG_SPOOL_PATH: str = "./var/log-spool"
    LOG_SPOOL_SEGMENT_BYTES: int = Field(default=1_048_576, ge=4096)
    LOG_SPOOL_MAX_BYTES: int = Field(default=512 * 1_048_576, ge=65536)
    LOG_SHIP_INTERVAL: float = Field(default=1.0, gt=0, le=60)
    LOG_SHIP_BATCH: int = Field(default=500, ge=1, le=10_000)
    LOG_SHIP_TIMEOUT: float = Field(default=5.0, gt=0)
    LOG_SHIP_MAX_BACKOFF: float = Field(default=30.0, gt=0)
    LOG_SHIP_SHUTDOWN_SECONDS: float = Field(default=5.0, ge=0)
    LOG_LEVEL: str = "INFO"
    LOG_FILE_PATH: str | None = None
    LOG_QUEUE_SIZE: int = Field(default=10_000, ge=100)
    # The log listener handles records in batches this far apart (one wake-up per batch
    # instead of per record); 0 handles each record as soon as it is queued.
    LOG_BATCH_SECONDS: float = Field(default=0.05, ge=0, le=1)

    CORS_ORIGINS: CommaList = Field(
        default_factory=lambda: [
            "http://localhost",
            "http://localhost:3000",
            "http://localhost:5173",
            "http://localhost:8000",
            "http://127.0.0.1:3000",
            "http://127.0.0.1:8000",
        ]
    )
    CORS_ORIGINS_REGEX: str | None = None
    CORS_HEADERS: CommaList = Field(
        default_factory=lambda: [
            "Authorization",
            "Content-Type",
            "Idempotency-Key",
            "If-Match",
            "X-Request-ID",
            # What the OpenAI SDKs send (a trailing * allows a family of headers).
            "X-Stainless-*",
            "OpenAI-Organization",
            "OpenAI-Project",
        ]
    )

    JWT_SECRET: SecretStr | None = None
    # LOCAL only, without JWT_SECRET: the generated secret is kept here (never read
    # in any other environment).
    LOCAL_JWT_SECRET_FILE: str = "./var/jwt-secret"
    JWT_ALGORITHM: str = "HS256"
    ACCESS_TOKEN_EXPIRE_SECONDS: int = Field(default=900, ge=30)
    REFRESH_TOKEN_EXPIRE_SECONDS: int = Field(default=30 * 24 * 3600, ge=60)
    JWT_LEEWAY_SECONDS: int = Field(default=10, ge=0, le=300)
    # A rotated refresh token presented again this soon gets the same new pair back
    # (a retry of a lost answer); later, or ever after, reuse revokes the family.
    REFRESH_REUSE_GRACE_SECONDS: int = Field(default=10, ge=0, le=300)
    # argon2 verifications at once per process: each takes 64 MiB for ~0.1 s, so a
    # burst of guesses waits its turn instead of growing the worker by 64 MiB a guess.
    AUTH_HASHING_CONCURRENCY: int = Field(default=2, ge=1, le=32)

    MAX_BODY_SIZE: int = Field(default=26_214_400, ge=1024)
    # Slow clients: a request's headers must arrive within HTTP_HEADER_TIMEOUT seconds
    # (enforced by the gunicorn worker's protocol) and its body within HTTP_BODY_TIMEOUT.
    HTTP_HEADER_TIMEOUT: float = Field(default=10.0, gt=0, le=300)
    HTTP_BODY_TIMEOUT: float = Field(default=60.0, gt=0, le=3600)
    METRICS_PORT: int = Field(default=8080, ge=1, le=65535)

    AUTH_CACHE_SECONDS: float = Field(default=5.0, ge=0, le=60)
    # Client-wide recommendation counts (best sellers, this hour's) may be this old.
    RECOMMEND_CACHE_SECONDS: float = Field(default=5.0, ge=0, le=300)
    # Each worker adds queued orders to the recommendation counters this often.
    RECOMMEND_FOLD_SECONDS: float = Field(default=1.0, gt=0, le=60)
    # GET /catalog may show the previous version this long after another worker
    # replaced it (this worker's own replacements show at once); orders never lag.
    CATALOG_CACHE_SECONDS: float = Field(default=1.0, ge=0, le=60)
    ASR_MODEL: str = ""
    ASR_DEVICE: str = "cpu"
    ASR_COMPUTE_TYPE: str = "int8"
    ASR_MAX_CONCURRENCY: int = Field(default=1, ge=1, le=64)
    ASR_MAX_AUDIO_SECONDS: float = Field(default=60.0, gt=0, le=3600)
    ASR_CPU_THREADS: int = Field(default=0, ge=0)
    # The widest x86 instruction set the recogniser's int8 products use: one width
    # gives every CPU the same kernels; "" lets each CPU use its fastest.
    ASR_CPU_ISA: Literal[
        "", "SSE41", "AVX", "AVX2", "AVX2_VNNI", "AVX512_CORE", "AVX512_CORE_VNNI",
        "AVX512_CORE_BF16", "AVX512_CORE_AMX", "ALL",
    ] = "AVX2"  # fmt: skip
    ASR_QUEUE_TIMEOUT: float = Field(default=2.0, ge=0)
    ASR_BEAM_SIZE: int = Field(default=8, ge=1, le=16)
    ASR_PRELOAD: bool = True
    # An audio order whose best reading leaves words unmatched is heard once more,
    # slowed down; costs one more decode for those orders only.
    ASR_SECOND_LISTEN: bool = True
    # If words are still unmatched after the second listen, a third, slower still: one
    # more decode (~0.6 s on 2 cores) for about one order in six.
    ASR_THIRD_LISTEN: bool = True
    # Audio in which voice activity detection hears no speech is transcribed as nothing
    # (noise must not become an order); costs ~10-30 ms a clip.
    ASR_SKIP_SILENCE: bool = True

    # The demo till at /demo (a page that takes an order from a microphone); unset: on
    # everywhere but in PRODUCTION.
    DEMO_ENABLED: bool | None = None

    # An open order session without a turn for this long is expired (decided on read).
    SESSION_TTL_SECONDS: int = Field(default=900, ge=10, le=7 * 24 * 3600)

    IDEMPOTENCY_TTL_SECONDS: int = Field(default=24 * 3600, ge=3600)
    IDEMPOTENCY_LOCK_SECONDS: int = Field(default=60, ge=1)

    @field_validator("TRUSTED_PROXIES", "CORS_ORIGINS", "CORS_HEADERS", mode="before")
    @classmethod
    def _split_commas(cls, value: Any) -> Any:
        # Operators write `a,b,c` in env files; YAML gives real lists.
        if isinstance(value, str):
            return [part.strip() for part in value.split(",") if part.strip()]
        return value

    @property
    def demo_enabled(self) -> bool:
        """Whether /demo is served: DEMO_ENABLED, by default off in PRODUCTION only."""
        if self.DEMO_ENABLED is not None:
            return self.DEMO_ENABLED
        return self.ENVIRONMENT != Environment.PRODUCTION

    @model_validator(mode="after")
    def _require_secrets_when_deployed(self) -> "Settings":
        if self.ENVIRONMENT.is_deployed:
            if self.JWT_SECRET is None or len(self.JWT_SECRET.get_secret_value()) < 32:
                raise ValueError(
                    f"JWT_SECRET must be set (at least 32 characters) in {self.ENVIRONMENT}"
                )
            if "CORS_ORIGINS" not in self.model_fields_set:
                raise ValueError(f"CORS_ORIGINS must be set explicitly in {self.ENVIRONMENT}")
        elif self.JWT_SECRET is None and self.ENVIRONMENT == Environment.LOCAL:
            # Kept in a file, so that a reload of the dev server logs nobody out.
            self.JWT_SECRET = SecretStr(local_jwt_secret(Path(self.LOCAL_JWT_SECRET_FILE)))
        elif self.JWT_SECRET is None:
            # TESTING: a fresh key per process; tokens die with the process.
            self.JWT_SECRET = SecretStr(secrets.token_urlsafe(48))
        return self

    @property
    def is_sqlite(self) -> bool:
        return self.DATABASE_URL.startswith("sqlite")

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        yaml_settings = YamlConfigSettingsSource(settings_cls, yaml_file=config_file_path())
        return init_settings, env_settings, dotenv_settings, yaml_settings, file_secret_settings


def local_jwt_secret(path: Path) -> str:
    """The development JWT secret kept at `path`, made (readable by its owner only) on
    first use."""
    try:
        secret = path.read_text().strip()
        if len(secret) >= 32:
            return secret
    except FileNotFoundError:
        pass
    path.parent.mkdir(parents=True, exist_ok=True)
    secret = secrets.token_urlsafe(48)
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w") as file:
        file.write(secret + "\n")
    return secret


class SettingsError(RuntimeError):
    """Raised when the configuration cannot start the service; the message names the setting."""


def load_settings(**overrides: Any) -> Settings:
    """Build Settings, turning validation errors into one readable line per problem."""
    from pydantic import ValidationError

    try:
        return Settings(**overrides)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc']) or 'settings'}: {err['msg']}"
            for err in exc.errors()
        )
        raise SettingsError(f"invalid configuration: {problems}") from None


@lru_cache
def get_settings() -> Settings:
    """The process-wide settings, read once."""
    return load_settings()


def trusted_proxies() -> str:
    """TRUSTED_PROXIES as the servers' `forwarded_allow_ips` ("" trusts no proxy).

    For gunicorn's config and the start scripts; invalid settings trust nobody (the
    app itself then refuses to start and says why).
    """
    try:
        return ",".join(get_settings().TRUSTED_PROXIES)
    except SettingsError:
        return ""


if __name__ == "__main__":
    # `python -m src.config trusted-proxies`: for uvicorn's --forwarded-allow-ips.
    import sys

    if sys.argv[1:] != ["trusted-proxies"]:
        raise SystemExit("usage: python -m src.config trusted-proxies")
    sys.stdout.write(trusted_proxies() + "\n")
