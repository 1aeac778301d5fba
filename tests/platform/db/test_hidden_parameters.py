"""A failing statement's error (and so its logged traceback) never carries bound values."""

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from src.config import Settings
from src.platform.db.engine import create_engine

pytestmark = pytest.mark.anyio


async def test_errors_name_no_bound_values(settings: Settings) -> None:
    engine = create_engine(settings)
    try:
        async with engine.connect() as connection:
            with pytest.raises(DBAPIError) as failed:
                await connection.execute(
                    text("INSERT INTO no_such_table (customer) VALUES (:customer)"),
                    {"customer": "customer-secret-4242"},
                )
    finally:
        await engine.dispose()
    assert "customer-secret-4242" not in str(failed.value)
    assert "hidden" in str(failed.value)
