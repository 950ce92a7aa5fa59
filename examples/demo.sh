#!/usr/bin/env bash
# make demo: validates and prints the quickstart manifests.
set -euo pipefail
LIFEBOAT=${1:-build/lifeboat}
cd "$(dirname "$0")/.."
"$LIFEBOAT" version
echo "==> lifeboat validate -f examples/"
"$LIFEBOAT" validate -f examples/
