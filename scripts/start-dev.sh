#!/usr/bin/env bash
# Development server: create .venv if missing, install, migrate SQLite, serve with reload.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/ensure-venv
scripts/migrate
# X-Forwarded-For is believed only from TRUSTED_PROXIES (none by default).
exec uvicorn src.main:app --reload --host "${HOST:-127.0.0.1}" --port "${PORT:-8000}" \
  --no-access-log --no-server-header \
  --forwarded-allow-ips "$(python -m src.config trusted-proxies)"
