"""Voice operator CLI.

`python -m src.voice import-csv SECRET_ID BreadBasket_DMS.csv [--currency GBP]`
replaces the client's catalog with the item names found in the file (prices zero)
and imports every transaction as a past order, all in one transaction, so that
recommendations work from the first day.
`python -m src.voice recount SECRET_ID` rebuilds the recommendation counters from
the stored orders.
"""

import argparse
import sys
from pathlib import Path

from pydantic import ValidationError
from sqlalchemy.ext.asyncio import AsyncSession

from src.auth import service as auth_service
from src.platform.cli import EXIT_NOT_FOUND, EXIT_SETUP, run_cli
from src.voice.orders import service as order_service
from src.voice.orders.history_csv import read_transactions
from src.voice.recommend import counters as recommendation_counters

_IMPORT_BATCH = 10_000


async def _client_id(session: AsyncSession, secret_id: str) -> str | None:
    client = await auth_service.get_client_by_secret_id(db_session=session, secret_id=secret_id)
    return client.id if client is not None else None


async def _import_csv(session: AsyncSession, args: argparse.Namespace) -> int:
    client_id = await _client_id(session, args.secret_id)
    if client_id is None:
        print(f"error: no client with secret_id {args.secret_id}", file=sys.stderr)
        return EXIT_NOT_FOUND
    try:
        transactions = read_transactions(Path(args.csv))
    except (OSError, KeyError, ValueError) as exc:
        print(f"error: cannot read {args.csv}: {exc}", file=sys.stderr)
        return EXIT_SETUP
    try:
        saved, imported = await order_service.import_pos_history(
            db_session=session, client_id=client_id, transactions=transactions,
            currency=args.currency,
        )  # fmt: skip
    except ValidationError as exc:
        problem = exc.errors()[0]
        print(
            f"error: {args.csv}: a transaction cannot be imported ({problem['msg']}); "
            "nothing was changed",
            file=sys.stderr,
        )
        return EXIT_SETUP
    print(f"catalog version {saved.version}: {saved.items} items; imported {imported} orders")
    return 0


async def _recount(session: AsyncSession, args: argparse.Namespace) -> int:
    client_id = await _client_id(session, args.secret_id)
    if client_id is None:
        print(f"error: no client with secret_id {args.secret_id}", file=sys.stderr)
        return EXIT_NOT_FOUND
    orders = await recommendation_counters.recount(db_session=session, client_id=client_id)
    await session.commit()
    print(f"recounted {orders} orders")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m src.voice", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    importing = commands.add_parser("import-csv", help="catalog + order history from a POS CSV")
    importing.add_argument("secret_id")
    importing.add_argument("csv", help="columns Date, Time, Transaction, Item")
    importing.add_argument("--currency", default="USD")
    importing.set_defaults(handler=_import_csv)
    recount = commands.add_parser("recount", help="rebuild recommendation counters")
    recount.add_argument("secret_id")
    recount.set_defaults(handler=_recount)
    return parser


def main(argv: list[str] | None = None) -> int:
    return run_cli(build_parser(), argv)


if __name__ == "__main__":
    sys.exit(main())
