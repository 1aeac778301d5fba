"""Operator CLI: `python -m src.auth create-client --name "Shop 1" [--scopes voice] [--json]`,
`create-api-key SECRET_ID [--name N] [--json]`, and the commands listed by `--help`.

Uses the same settings and database as the app. Secret keys and API keys are printed
once and never stored in clear.
"""

import argparse
import dataclasses
import json
import sys
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from src.auth import api_keys, service
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


async def _create_api_key(session: AsyncSession, args: argparse.Namespace) -> int:
    try:
        issued = await api_keys.create_api_key(
            db_session=session, secret_id=args.secret_id, name=args.name
        )
    except api_keys.ClientNotFound:
        print(f"error: no client with secret_id {args.secret_id}", file=sys.stderr)
        return EXIT_NOT_FOUND
    except api_keys.ClientDisabled:
        print(f"error: client {args.secret_id} is disabled", file=sys.stderr)
        return EXIT_SETUP
    if args.json:
        print(json.dumps(dataclasses.asdict(issued)))
        return 0
    print(f"Created API key {issued.key_id} ({issued.name!r}) for {args.secret_id}")
    print(f"  api_key: {issued.api_key}")
    print("Store the key now: it is not shown again and cannot be recovered.")
    return 0


def _key_row(key: api_keys.ApiKeySummary) -> dict[str, Any]:
    return {
        "key_id": key.key_id,
        "client_id": key.client_id,
        "secret_id": key.secret_id,
        "name": key.name,
        "starts_with": key.shown,
        "created_at": utc_isoformat(key.created_at),
        "revoked_at": utc_isoformat(key.revoked_at) if key.revoked_at else None,
    }


async def _list_api_keys(session: AsyncSession, args: argparse.Namespace) -> int:
    rows = [
        _key_row(k)
        for k in await api_keys.list_api_keys(db_session=session, secret_id=args.secret_id)
    ]
    if args.json:
        print(json.dumps(rows))
    else:
        for row in rows:
            state = "revoked" if row["revoked_at"] else "active"
            shown = f"{row['starts_with']}..."
            print(f"{row['key_id']}  {state:7}  {shown}  {row['secret_id']}  {row['name']}")
    return 0


async def _revoke_api_key(session: AsyncSession, args: argparse.Namespace) -> int:
    key = await api_keys.revoke_api_key(db_session=session, key=args.key)
    if key is None:
        print("error: no such API key", file=sys.stderr)
        return EXIT_NOT_FOUND
    print(f"Revoked {key.key_id} ({key.name}); every server refuses it within AUTH_CACHE_SECONDS.")
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

    create_key = commands.add_parser(
        "create-api-key", help="make a static API key (vk_...) for a client; printed once"
    )
    create_key.add_argument("secret_id")
    create_key.add_argument("--name", default="api key")
    create_key.add_argument("--json", action="store_true", help="print one JSON object")
    create_key.set_defaults(handler=_create_api_key)

    list_keys = commands.add_parser("list-api-keys", help="list API keys (never the keys)")
    list_keys.add_argument("secret_id", nargs="?", help="only this client's keys")
    list_keys.add_argument("--json", action="store_true")
    list_keys.set_defaults(handler=_list_api_keys)

    revoke_key = commands.add_parser("revoke-api-key", help="revoke an API key for good")
    revoke_key.add_argument("key", help="the key's id (key_...) or the key itself (vk_...)")
    revoke_key.set_defaults(handler=_revoke_api_key)
    return parser


def main(argv: list[str] | None = None) -> int:
    return run_cli(build_parser(), argv)


if __name__ == "__main__":
    sys.exit(main())
