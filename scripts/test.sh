#!/usr/bin/env bash
# The suite's provisioning, then jest: a real PostgreSQL (Debian's packages, installed and started
# when absent) and the pinned Temporal binaries (dev server and time-skipping test server).
set -euo pipefail
cd "$(dirname "$0")/.."
export "$(bash scripts/ensure-postgres.sh)"
npx tsx scripts/tools.ts >/dev/null
exec npx jest "$@"
