"""Scaffold a new domain package: `scripts/new-domain NAME`.

Refuses a NAME that would shadow a module of src/, a domain or the standard
library. Creates src/NAME/ (router, schemas, service, dependencies, exceptions, models) and
tests/NAME/, includes the router under the authenticated router in src/api.py and
imports the models in src/migrations/env.py. Then: scripts/makemigrations "add NAME".
"""

import re
import subprocess
import sys
from pathlib import Path

FILES: dict[str, str] = {
    "__init__.py": '"""The {name} domain."""\n',
    "models.py": '''"""{title} tables. Every row carries its client_id: no client sees another's."""

from datetime import datetime

from sqlalchemy import DateTime, ForeignKey, Integer, String, func
from sqlalchemy.orm import Mapped, mapped_column

from src.database import Base


class {cls}Item(Base):
    __tablename__ = "{name}_items"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    client_id: Mapped[str] = mapped_column(
        String(40), ForeignKey("api_clients.id", ondelete="CASCADE"), index=True
    )
    name: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
''',
    "schemas.py": '''"""Request and response bodies of the {name} endpoints."""

from typing import Annotated

from pydantic import StringConstraints

from src.models import ORJSONModel


class {cls}ItemIn(ORJSONModel):
    name: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]


class {cls}ItemOut(ORJSONModel):
    id: int
    name: str
''',
    "exceptions.py": '''"""{title} errors with their API codes."""

from src.exceptions import NotFound


class {cls}ItemNotFound(NotFound):
    pass
''',
    "service.py": '''"""{title} rules: reads and writes, always scoped to the calling client."""

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from src.{name}.exceptions import {cls}ItemNotFound
from src.{name}.models import {cls}Item
from src.{name}.schemas import {cls}ItemIn, {cls}ItemOut


async def list_items(*, db_session: AsyncSession, client_id: str) -> list[{cls}ItemOut]:
    """The client's items, oldest first."""
    rows = await db_session.scalars(
        select({cls}Item).where({cls}Item.client_id == client_id).order_by({cls}Item.id)
    )
    return [{cls}ItemOut(id=row.id, name=row.name) for row in rows]


async def create_item(
    *, db_session: AsyncSession, client_id: str, item: {cls}ItemIn
) -> {cls}ItemOut:
    """Store one item for the client."""
    row = {cls}Item(client_id=client_id, name=item.name)
    db_session.add(row)
    await db_session.commit()
    return {cls}ItemOut(id=row.id, name=row.name)


async def get_item(*, db_session: AsyncSession, client_id: str, item_id: int) -> {cls}ItemOut:
    """One item; another client's item is a 404 like a missing one."""
    row = await db_session.get({cls}Item, item_id)
    if row is None or row.client_id != client_id:
        raise {cls}ItemNotFound()
    return {cls}ItemOut(id=row.id, name=row.name)
''',
    "dependencies.py": '''"""{title} dependencies: load a resource or raise its 404."""

from typing import Annotated

from fastapi import Depends

from src.auth.dependencies import CurrentClient
from src.database import DbSession
from src.{name} import service
from src.{name}.schemas import {cls}ItemOut


async def valid_{name}_item(
    item_id: int, client: CurrentClient, db_session: DbSession
) -> {cls}ItemOut:
    return await service.get_item(
        db_session=db_session, client_id=client.client_id, item_id=item_id
    )


Current{cls}Item = Annotated[{cls}ItemOut, Depends(valid_{name}_item)]
''',
    "router.py": '''"""{title} routes. Thin: parse the request, call a service, wrap the answer."""

from fastapi import APIRouter

from src.auth.dependencies import CurrentClient
from src.database import DbSession
from src.models import Envelope, envelope
from src.{name} import service
from src.{name}.dependencies import Current{cls}Item
from src.{name}.schemas import {cls}ItemIn, {cls}ItemOut

router = APIRouter()


@router.get("/items", summary="The caller's {name} items")
async def list_items(client: CurrentClient, db_session: DbSession) -> Envelope[list[{cls}ItemOut]]:
    return envelope(await service.list_items(db_session=db_session, client_id=client.client_id))


@router.post("/items", status_code=201, summary="Add a {name} item")
async def create_item(
    body: {cls}ItemIn, client: CurrentClient, db_session: DbSession
) -> Envelope[{cls}ItemOut]:
    item = await service.create_item(db_session=db_session, client_id=client.client_id, item=body)
    return envelope(item, 201)


@router.get("/items/{{item_id}}", summary="One {name} item")
async def get_item(item: Current{cls}Item) -> Envelope[{cls}ItemOut]:
    return envelope(item)
''',
}

TEST = '''"""The {name} domain through the API."""

from typing import Any

import httpx
import pytest

from tests.conftest import assert_envelope_error

pytestmark = pytest.mark.anyio


async def test_items_round_trip(client: httpx.AsyncClient, merchant: dict[str, Any]) -> None:
    created = await client.post(
        "/api/v1/{name}/items", json={{"name": "first"}}, headers=merchant["headers"]
    )
    assert created.status_code == 201, created.text
    item = created.json()["data"]
    listed = await client.get("/api/v1/{name}/items", headers=merchant["headers"])
    assert listed.json()["data"] == [item]
    one = await client.get(f"/api/v1/{name}/items/{{item['id']}}", headers=merchant["headers"])
    assert one.json()["data"] == item


async def test_items_need_a_token(client: httpx.AsyncClient) -> None:
    assert_envelope_error(
        await client.get("/api/v1/{name}/items"), 401, "AUTHENTICATION_REQUIRED"
    )
'''


def taken_names(root: Path) -> dict[str, str]:
    """Names a new package must not take, each with what it would shadow.

    `src/models.py` and `src/models/` cannot both be imported, and a package named
    like a standard-library module hides it from every `import` in the project.
    """
    taken = dict.fromkeys(sys.stdlib_module_names, "a standard-library module")
    taken["tests"] = "the test suite"
    for path in (root / "src").iterdir():
        if path.name.startswith(("_", ".")):
            continue
        if path.suffix == ".py":
            taken[path.stem] = f"the module src/{path.name}"
        elif path.is_dir():
            taken[path.name] = f"the package src/{path.name}/"
    return taken


def scaffold(root: Path, name: str) -> list[Path]:
    """Write the package, its test and the wiring under `root`; returns the new files."""
    if not re.fullmatch(r"[a-z][a-z0-9_]{1,30}", name):
        raise ValueError(f"{name!r}: use a new lowercase identifier (letters, digits, _)")
    package = root / "src" / name
    if package.exists():
        raise ValueError(f"{package} already exists")
    taken = taken_names(root)
    if name in taken:
        raise ValueError(f"{name!r} would shadow {taken[name]}: choose another name")
    values = {
        "name": name,
        "cls": name.title().replace("_", ""),
        "title": name.replace("_", " ").capitalize(),
    }
    created = []
    package.mkdir(parents=True)
    for filename, template in FILES.items():
        path = package / filename
        path.write_text(template.format(**values))
        created.append(path)
    tests = root / "tests" / name
    tests.mkdir(parents=True, exist_ok=True)
    (tests / "__init__.py").write_text("")
    test_file = tests / f"test_{name}_api.py"
    test_file.write_text(TEST.format(**values))
    created.append(test_file)

    api = root / "src" / "api.py"
    text = api.read_text()
    anchor = "from src.voice.router import routers as voice_routers\n"
    text = text.replace(anchor, anchor + f"from src.{name}.router import router as {name}_router\n")
    include = "    for voice_router in voice_routers:\n"
    text = text.replace(
        include,
        f'    api.include_router({name}_router, prefix="/{name}", tags=["{name}"], **PROTECTED)\n'
        + include,
    )
    api.write_text(text)
    env = root / "src" / "migrations" / "env.py"
    env_text = env.read_text()
    anchor = "import src.auth.models\n"
    env_text = env_text.replace(anchor, anchor + f"import src.{name}.models\n")
    env.write_text(env_text)
    _tidy(root, [package, tests, api, env])
    return created


def _tidy(root: Path, paths: list[Path]) -> None:
    """Sort imports and format the new and edited files (as scripts/format would)."""
    targets = [str(path) for path in paths]
    for command in (["check", "--fix", "--quiet", *targets], ["format", "--quiet", *targets]):
        try:
            subprocess.run([sys.executable, "-m", "ruff", *command], cwd=root, check=False)
        except OSError:
            return  # no ruff here: the files are still valid, only less tidy


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print("usage: scripts/new-domain NAME", file=sys.stderr)
        return 2
    root = Path(__file__).resolve().parent.parent
    try:
        created = scaffold(root, argv[0])
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    for path in created:
        print(f"created {path.relative_to(root)}")
    print(f"wired into src/api.py (/api/v1/{argv[0]}) and src/migrations/env.py")
    print(f'next: scripts/makemigrations "add {argv[0]}" && scripts/migrate && scripts/test')
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
