#!/usr/bin/env bash
# Set up the virtualenv (if needed) and run the end-to-end pipeline on an embedded local Ray:
# synthetic data -> split -> train -> tune -> evaluate -> serve. Extra arguments go to `crossrec quickstart`.
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bash "$repo/scripts/setup_env.sh"
venv="${CROSSREC_VENV:-$repo/.venv}"
cd "$repo"
exec "$venv/bin/crossrec" quickstart "$@"
