"""What every operator command shares: settings, a database session, clear exits."""

import argparse
import asyncio
import sys
from collections.abc import Awaitable, Callable

from sqlalchemy.exc import OperationalError, ProgrammingError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from sqlalchemy.ext.asyncio import AsyncSession

from src.config import SettingsError, get_settings
from src.platform.db.engine import create_engine, create_sessionmaker

EXIT_NOT_FOUND = 1
EXIT_SETUP = 2

Command = Callable[[AsyncSession, argparse.Namespace], Awaitable[int]]


async def _run(handler: Command, args: argparse.Namespace) -> int:
    engine = create_engine(get_settings())
    try:
        async with create_sessionmaker(engine)() as session:
            return await handler(session, args)
    except (OperationalError, ProgrammingError) as exc:
        message = str(exc.orig) if exc.orig is not None else str(exc)
        if "no such table" in message or "does not exist" in message:
            print("error: the database is not migrated; run scripts/migrate", file=sys.stderr)
        else:
            print(f"error: database unavailable: {message.splitlines()[0]}", file=sys.stderr)
        return EXIT_SETUP
    except PoolTimeout:
        # SQLite: another process (a server worker) held the write lock all that time.
        print(
            "error: the database stayed busy past DATABASE_POOL_TIMEOUT; try again",
            file=sys.stderr,
        )
        return EXIT_SETUP
    finally:
        await engine.dispose()


def run_cli(parser: argparse.ArgumentParser, argv: list[str] | None = None) -> int:
    """Parse `argv` and run the chosen subcommand's `handler` with a session."""
    args = parser.parse_args(argv)
    try:
        return asyncio.run(_run(args.handler, args))
    except SettingsError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_SETUP
