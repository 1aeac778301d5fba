"""The operator commands as an operator runs them: real processes on a real database."""

import fcntl
import json
import os
import sqlite3
import subprocess
from pathlib import Path

import pytest
from alembic import command as alembic

from src.platform.db.migrate import alembic_config, migrate_fresh, upgrade
from tests.conftest import DATA
from tests.processes import run_module


def run(args: list[str], database_url: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "DATABASE_URL": database_url, "LOG_FILE_PATH": ""}
    return run_module(*args, env=env, timeout=120)


@pytest.fixture
def database_url(tmp_path: Path) -> str:
    url = f"sqlite+aiosqlite:///{tmp_path / 'cli.db'}"
    migrate_fresh(url)
    return url


def test_commands_refuse_an_unmigrated_database(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'empty.db'}"
    for command in (["src.auth", "list-clients"], ["src.voice", "recount", "sid_x"]):
        done = run(command, url)
        assert done.returncode == 2
        assert "not migrated; run scripts/migrate" in done.stderr


def test_create_list_disable_rotate(database_url: str) -> None:
    created = run(["src.auth", "create-client", "--name", "Shop 1", "--json"], database_url)
    assert created.returncode == 0, created.stderr
    creds = json.loads(created.stdout)
    assert creds["secret_id"].startswith("sid_") and creds["secret_key"].startswith("sk_")
    listed = json.loads(run(["src.auth", "list-clients", "--json"], database_url).stdout)
    assert [c["secret_id"] for c in listed] == [creds["secret_id"]]
    assert "secret_key" not in listed[0]
    rotated = run(["src.auth", "rotate-secret", creds["secret_id"], "--json"], database_url)
    assert json.loads(rotated.stdout)["secret_key"] != creds["secret_key"]
    assert run(["src.auth", "disable-client", creds["secret_id"]], database_url).returncode == 0
    listed = json.loads(run(["src.auth", "list-clients", "--json"], database_url).stdout)
    assert listed[0]["is_active"] is False
    missing = run(["src.auth", "disable-client", "sid_" + "0" * 24], database_url)
    assert missing.returncode == 1 and "no client" in missing.stderr


def test_a_command_meeting_a_busy_database_says_so_and_exits(database_url: str) -> None:
    # A server worker holding SQLite's write lock (its file beside the database) all
    # along: the command gives up after DATABASE_POOL_TIMEOUT and exits, not hangs.
    lock_path = database_url.removeprefix("sqlite+aiosqlite:///") + ".write-lock"
    env = {**os.environ, "DATABASE_URL": database_url, "LOG_FILE_PATH": ""}
    with open(lock_path, "a") as held:
        fcntl.flock(held, fcntl.LOCK_EX)
        env["DATABASE_POOL_TIMEOUT"] = "1"
        busy = run_module("src.auth", "create-client", "--name", "Busy", env=env, timeout=30)
    assert busy.returncode == 2
    assert "stayed busy past DATABASE_POOL_TIMEOUT" in busy.stderr
    assert json.loads(run(["src.auth", "list-clients", "--json"], database_url).stdout) == []
    again = run(["src.auth", "create-client", "--name", "Busy", "--json"], database_url)
    assert again.returncode == 0, again.stderr


def test_import_csv_builds_catalog_and_history(database_url: str) -> None:
    creds = json.loads(
        run(["src.auth", "create-client", "--name", "Bakery", "--json"], database_url).stdout
    )
    sample = DATA / "breadbasket_sample.csv"
    done = run(["src.voice", "import-csv", creds["secret_id"], str(sample)], database_url)
    assert done.returncode == 0, done.stderr
    transactions = {
        line.split(",")[2]
        for line in sample.read_text().splitlines()[1:]
        if not line.endswith(",NONE")
    }
    assert f"imported {len(transactions)} orders" in done.stdout
    recount = run(["src.voice", "recount", creds["secret_id"]], database_url)
    assert recount.stdout.strip() == f"recounted {len(transactions)} orders"
    bad = run(["src.voice", "import-csv", creds["secret_id"], "/nonexistent.csv"], database_url)
    assert bad.returncode == 2 and "cannot read" in bad.stderr


def test_failed_import_changes_nothing(database_url: str, tmp_path: Path) -> None:
    """The catalog and the orders are one transaction: a transaction that no order can
    hold (one item sold 1,001 times) comes after the catalog was written, and leaves
    the previous catalog and no orders."""
    creds = json.loads(
        run(["src.auth", "create-client", "--name", "Bakery", "--json"], database_url).stdout
    )
    first = tmp_path / "first.csv"
    first.write_text("Date,Time,Transaction,Item\n2016-10-30,09:58:11,1,Bread\n")
    assert (
        run(["src.voice", "import-csv", creds["secret_id"], str(first)], database_url).returncode
        == 0
    )
    rows = ["Date,Time,Transaction,Item", "2016-10-30,10:00:00,1,Coffee"]
    rows += ["2016-10-30,10:05:00,2,Muffin"] * 1001
    second = tmp_path / "second.csv"
    second.write_text("\n".join(rows) + "\n")
    failed = run(["src.voice", "import-csv", creds["secret_id"], str(second)], database_url)
    assert failed.returncode == 2, failed.stdout + failed.stderr
    assert "nothing was changed" in failed.stderr and "Traceback" not in failed.stderr
    with sqlite3.connect(database_url.split("///", 1)[1]) as db:
        catalogs = db.execute("SELECT version FROM catalogs").fetchall()
        items = db.execute("SELECT name FROM catalog_items").fetchall()
        orders = db.execute("SELECT count(*) FROM orders").fetchone()
    assert catalogs == [(1,)] and items == [("Bread",)] and orders == (1,)


def test_migrations_go_down_to_nothing_and_up_again(tmp_path: Path) -> None:
    # Every downgrade, the trigger's included, undoes its upgrade on a real database.
    url = f"sqlite+aiosqlite:///{tmp_path / 'roundtrip.db'}"
    config = alembic_config(url)
    upgrade(url)
    alembic.downgrade(config, "0003_recommendation_queue")
    alembic.upgrade(config, "head")
    alembic.downgrade(config, "base")
    with sqlite3.connect(tmp_path / "roundtrip.db") as db:
        left = db.execute("SELECT name FROM sqlite_master WHERE name NOT LIKE 'sqlite_%'")
        assert [row[0] for row in left] == ["alembic_version"]
    upgrade(url)
    with sqlite3.connect(tmp_path / "roundtrip.db") as db:
        triggers = db.execute("SELECT name FROM sqlite_master WHERE type = 'trigger'")
        assert [row[0] for row in triggers] == ["orders_queue_for_counters"]


def test_dropping_the_queue_client_key_keeps_what_is_queued(tmp_path: Path) -> None:
    # Migration 0005 rebuilds the queue table on SQLite: an order queued before it is
    # still queued after it, and after its downgrade, and the trigger still queues.
    path = tmp_path / "queue.db"
    url = f"sqlite+aiosqlite:///{path}"
    config = alembic_config(url)
    alembic.upgrade(config, "0004_queue_orders_by_trigger")

    def place(order_id: str) -> None:
        with sqlite3.connect(path) as db:
            db.execute(
                "INSERT INTO orders (id, client_id, source, unmatched, currency, total_minor,"
                " created_at) VALUES (?, 'c1', 'text', '[]', 'USD', 0, '2026-11-30 12:00:00')",
                (order_id,),
            )

    def queue() -> tuple[list[str], list[str]]:
        with sqlite3.connect(path) as db:
            queued = [r[0] for r in db.execute("SELECT order_id FROM rec_pending_orders")]
            keys = [r[2] for r in db.execute("PRAGMA foreign_key_list(rec_pending_orders)")]
        return sorted(queued), sorted(keys)

    place("ord_1")
    assert queue() == (["ord_1"], ["api_clients", "orders"])
    alembic.upgrade(config, "head")
    place("ord_2")
    assert queue() == (["ord_1", "ord_2"], ["orders"])
    alembic.downgrade(config, "0004_queue_orders_by_trigger")
    place("ord_3")
    assert queue() == (["ord_1", "ord_2", "ord_3"], ["api_clients", "orders"])
