"""Settings that decide secrets: the development JWT secret survives a reload."""

import stat
from pathlib import Path

import pytest

from src.config import Settings


def test_local_keeps_its_generated_jwt_secret_across_restarts(tmp_path: Path) -> None:
    path = tmp_path / "var" / "jwt-secret"
    first = Settings(ENVIRONMENT="LOCAL", JWT_SECRET=None, LOCAL_JWT_SECRET_FILE=str(path))
    again = Settings(ENVIRONMENT="LOCAL", JWT_SECRET=None, LOCAL_JWT_SECRET_FILE=str(path))
    assert first.JWT_SECRET is not None and again.JWT_SECRET is not None
    assert first.JWT_SECRET.get_secret_value() == again.JWT_SECRET.get_secret_value()
    assert len(first.JWT_SECRET.get_secret_value()) >= 32
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


@pytest.mark.parametrize("environment", ["TESTING", "STAGING"])
def test_no_other_environment_reads_or_writes_the_file(tmp_path: Path, environment: str) -> None:
    path = tmp_path / "jwt-secret"
    path.write_text("x" * 64)
    extra = {"JWT_SECRET": "s" * 40, "CORS_ORIGINS": ["https://pos.example"]}
    settings = Settings(
        ENVIRONMENT=environment,
        LOCAL_JWT_SECRET_FILE=str(path),
        **(extra if environment == "STAGING" else {"JWT_SECRET": None}),
    )
    assert settings.JWT_SECRET is not None
    assert settings.JWT_SECRET.get_secret_value() != "x" * 64
