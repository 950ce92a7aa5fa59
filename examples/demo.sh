#!/usr/bin/env bash
# make demo: the Lifeboat quickstart.
#   1. create the sample volumes the manifests protect (examples/make-sample-data.sh)
#   2. check every manifest offline:  lifeboat validate -f examples/
#   3. list what the quickstart declares, file by file
# Later steps (start `lifeboat up` with these manifests, watch `kubectl get lifeboat`) are added
# as functions below and called from main.
set -euo pipefail

LIFEBOAT=${1:-build/lifeboat}
cd "$(dirname "$0")/.."
EXAMPLES=examples

step() { printf '\n==> %s\n' "$*"; }

create_sample_data() {
  step "examples/make-sample-data.sh"
  "$EXAMPLES/make-sample-data.sh"
}

validate_manifests() {
  step "lifeboat validate -f $EXAMPLES/"
  "$LIFEBOAT" validate -f "$EXAMPLES/"
  echo "all manifests are valid"
}

# Prints "file  Kind/namespace/name" for every document of every manifest, in apply order.
print_summary() {
  step "the quickstart manifests (kubectl apply -f $EXAMPLES/ applies them in this order)"
  local file
  for file in "$EXAMPLES"/*.yaml; do
    awk -v file="$(basename "$file")" '
      function flush() {
        if (kind != "") printf "  %-30s %-18s %s/%s\n", file, kind, (ns == "" ? "-" : ns), name
        kind = ""; name = ""; ns = ""; in_meta = 0
      }
      /^---/ { flush(); next }
      /^kind:/ { kind = $2 }
      /^metadata:/ { in_meta = 1; next }
      /^[^ #]/ { in_meta = 0 }
      in_meta && /^  name:/ { name = $2 }
      in_meta && /^  namespace:/ { ns = $2 }
      END { flush() }
    ' "$file"
  done
}

main() {
  "$LIFEBOAT" version
  create_sample_data
  validate_manifests
  print_summary
}

main
