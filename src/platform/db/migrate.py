"""Alembic from Python: for tests, benchmarks and tools that need a schema now."""

from alembic import command
from alembic.config import Config

from src.config import PROJECT_ROOT


def alembic_config(database_url: str) -> Config:
    """Our alembic.ini, pointed at `database_url`, leaving the caller's logging alone."""
    config = Config(str(PROJECT_ROOT / "alembic.ini"))
    config.attributes["database_url"] = database_url
    config.attributes["configure_logger"] = False
    return config


def upgrade(database_url: str, revision: str = "head") -> None:
    command.upgrade(alembic_config(database_url), revision)


def migrate_fresh(database_url: str) -> None:
    """Drop everything through the migrations, then upgrade to head."""
    config = alembic_config(database_url)
    command.downgrade(config, "base")
    command.upgrade(config, "head")
