"""`scripts/new-domain NAME` yields a domain that migrates, serves and passes its tests."""

import os
import shutil
import subprocess
import sys
from pathlib import Path

from src.config import PROJECT_ROOT


def test_scaffolded_domain_works_end_to_end(tmp_path: Path) -> None:
    project = tmp_path / "project"
    project.mkdir()
    for name in ("src", "tests", "scripts"):
        # The long-running test folders are not needed; src is copied whole.
        skipped = ("bench", "observability", "reliability") if name == "tests" else ()
        shutil.copytree(
            PROJECT_ROOT / name,
            project / name,
            ignore=shutil.ignore_patterns("__pycache__", *skipped),
        )
    for name in ("alembic.ini", "config.yaml", "pyproject.toml"):
        shutil.copy(PROJECT_ROOT / name, project / name)
    env = {
        **os.environ,
        "PYTHONPATH": str(project),
        # alembic's post-write hook runs ruff from PATH, as scripts/makemigrations does.
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
        "DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'scaffold.db'}",
        "LOG_FILE_PATH": "",
    }

    def run(*argv: str) -> subprocess.CompletedProcess[str]:
        done = subprocess.run(
            argv, cwd=project, env=env, capture_output=True, text=True, timeout=300
        )
        assert done.returncode == 0, done.stdout + done.stderr
        return done

    made = run(sys.executable, "scripts/new_domain.py", "loyalty")
    assert "created src/loyalty/router.py" in made.stdout
    assert 'prefix="/loyalty"' in (project / "src" / "api.py").read_text()
    run(sys.executable, "-m", "alembic", "upgrade", "head")
    run(sys.executable, "-m", "alembic", "revision", "--autogenerate", "-m", "add loyalty")
    migration = next((project / "src" / "migrations" / "versions").glob("*add_loyalty.py"))
    upgrade = migration.read_text().split("def downgrade")[0]
    assert 'op.create_table(\n        "loyalty_items"' in upgrade
    assert "drop_" not in upgrade  # nothing else changes: models and migrations agree
    run(sys.executable, "-m", "ruff", "check", "src/loyalty", "tests/loyalty")
    tests = run(sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests/loyalty")
    assert "2 passed" in tests.stdout
    refused = subprocess.run(
        [sys.executable, "scripts/new_domain.py", "loyalty"], cwd=project, env=env,
        capture_output=True, text=True,
    )  # fmt: skip
    assert refused.returncode == 2 and "already exists" in refused.stderr


def test_names_that_would_shadow_a_module_are_refused(tmp_path: Path) -> None:
    """`models`, `logging`, `config` ... would hide a platform or standard module."""
    cases = {
        "models": "the module src/models.py",
        "config": "the module src/config.py",
        "logging": "a standard-library module",
        "json": "a standard-library module",
        "tests": "the test suite",
    }
    for name, shadowed in cases.items():
        done = subprocess.run(
            [sys.executable, str(PROJECT_ROOT / "scripts" / "new_domain.py"), name],
            capture_output=True, text=True, timeout=60,
        )  # fmt: skip
        assert done.returncode == 2, name
        assert f"would shadow {shadowed}" in done.stderr, done.stderr
    for existing in ("platform", "voice", "auth"):  # a package that is there already
        done = subprocess.run(
            [sys.executable, str(PROJECT_ROOT / "scripts" / "new_domain.py"), existing],
            capture_output=True, text=True, timeout=60,
        )  # fmt: skip
        assert done.returncode == 2 and "already exists" in done.stderr
    assert not (PROJECT_ROOT / "src" / "json").exists()
