"""Operator CLI: `python -m src.auth create-client --name "Shop 1" [--scopes voice] [--json]`.

Uses the same settings and database as the app. Secret keys are printed once and
never stored in clear.
"""

import argparse
import json
import sys
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from src.auth import service
from src.models import utc_isoformat
from src.platform.cli import EXIT_NOT_FOUND, EXIT_SETUP, run_cli


def _print_credentials(creds: Any, as_json: bool, heading: str) -> None:
    if as_json:
        print(json.dumps(creds.jsonable()))
        return
    print(heading)
    print(f"  client_id:  {creds.client_id}")
    print(f"  secret_id:  {creds.secret_id}")
    print(f"  secret_key: {creds.secret_key}")
    print("Store the secret key now: it is not shown again and cannot be recovered.")


async def _create_client(session: AsyncSession, args: argparse.Namespace) -> int:
    scopes = [scope for part in args.scopes for scope in part.replace(",", " ").split()]
    try:
        creds = await service.create_client(db_session=session, name=args.name, scopes=scopes)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_SETUP
    _print_credentials(creds, args.json, f"Created API client {args.name!r}")
    return 0


async def _list_clients(session: AsyncSession, args: argparse.Namespace) -> int:
    clients = await service.list_clients(db_session=session)
    rows = [
        {
            "client_id": c.id,
            "name": c.name,
            "secret_id": c.secret_id,
            "scopes": c.scope_list,
            "is_active": c.is_active,
            "created_at": utc_isoformat(c.created_at),
        }
        for c in clients
    ]
    if args.json:
        print(json.dumps(rows))
    else:
        for row in rows:
            state = "active" if row["is_active"] else "disabled"
            print(f"{row['secret_id']}  {state:8}  {row['client_id']}  {row['name']}")
    return 0


async def _disable_client(session: AsyncSession, args: argparse.Namespace) -> int:
    client = await service.disable_client(db_session=session, secret_id=args.secret_id)
    if client is None:
        print(f"error: no client with secret_id {args.secret_id}", file=sys.stderr)
        return EXIT_NOT_FOUND
    print(f"Disabled {client.secret_id} ({client.name}); its tokens no longer work.")
    return 0


async def _rotate_secret(session: AsyncSession, args: argparse.Namespace) -> int:
    creds = await service.rotate_secret(db_session=session, secret_id=args.secret_id)
    if creds is None:
        print(f"error: no client with secret_id {args.secret_id}", file=sys.stderr)
        return EXIT_NOT_FOUND
    _print_credentials(creds, args.json, "New secret key (the old key and its tokens stop working)")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m src.auth", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)

    create = commands.add_parser("create-client", help="create an API client")
    create.add_argument("--name", required=True)
    create.add_argument("--scopes", nargs="*", default=["voice"])
    create.add_argument("--json", action="store_true", help="print one JSON object")
    create.set_defaults(handler=_create_client)

    listing = commands.add_parser("list-clients", help="list API clients")
    listing.add_argument("--json", action="store_true")
    listing.set_defaults(handler=_list_clients)

    disable = commands.add_parser("disable-client", help="disable a client and its tokens")
    disable.add_argument("secret_id")
    disable.set_defaults(handler=_disable_client)

    rotate = commands.add_parser("rotate-secret", help="issue a new secret key")
    rotate.add_argument("secret_id")
    rotate.add_argument("--json", action="store_true")
    rotate.set_defaults(handler=_rotate_secret)
    return parser


def main(argv: list[str] | None = None) -> int:
    return run_cli(build_parser(), argv)


if __name__ == "__main__":
    sys.exit(main())
