#!/usr/bin/env bash
# Production: a clean multiprocess metrics folder, migrations, then gunicorn.
set -euo pipefail
cd "$(dirname "$0")/.."
[ -d .venv/bin ] && export PATH="$PWD/.venv/bin:$PATH"
# Set before Python starts, so every worker's prometheus_client sees it.
export PROMETHEUS_MULTIPROC_DIR=${PROMETHEUS_MULTIPROC_DIR:-/tmp/voice-api-metrics}
rm -rf "$PROMETHEUS_MULTIPROC_DIR" && mkdir -p "$PROMETHEUS_MULTIPROC_DIR"
if [ "${RUN_MIGRATIONS:-1}" = "1" ]; then
  scripts/migrate
fi
exec gunicorn -c gunicorn/gunicorn_conf.py src.main:app
