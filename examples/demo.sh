#!/usr/bin/env bash
# make demo: the Lifeboat quickstart.
#   1. create the sample volumes the manifests protect (examples/make-sample-data.sh)
#   2. check every manifest offline:  lifeboat validate -f examples/
#   3. list what the quickstart declares, file by file
#   4. start `lifeboat up` (API server + controllers + /metrics) with these manifests
#   5. wait until every object is Ready, show `kubectl get lifeboat` and the metrics
#   6. back up the sample volumes with the vault engine, twice, restore and compare
# On a terminal it keeps running until Ctrl-C so you can use kubectl yourself; otherwise it
# stops once it has shown everything.
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

STATE_DIR=${LIFEBOAT_DEMO_DIR:-/tmp/lifeboat-demo}/state
VOLUMES_DIR=${LIFEBOAT_DEMO_DIR:-/tmp/lifeboat-demo}/volumes
UP_LOG=${LIFEBOAT_DEMO_DIR:-/tmp/lifeboat-demo}/lifeboat-up.log
UP_PID=""

stop_up() {
  if [[ -n "$UP_PID" ]] && kill -0 "$UP_PID" 2>/dev/null; then
    kill -TERM "$UP_PID"
    wait "$UP_PID" || true
  fi
}

start_up() {
  step "lifeboat up --data-dir $STATE_DIR -f $EXAMPLES/   (log: $UP_LOG)"
  mkdir -p "$STATE_DIR"
  "$LIFEBOAT" up --data-dir "$STATE_DIR" --port 0 --metrics-bind-address 127.0.0.1:0 \
    -f "$EXAMPLES/" >"$UP_LOG" 2>&1 &
  UP_PID=$!
  trap stop_up EXIT
  local i
  for i in $(seq 1 300); do
    if grep -q '^export KUBECONFIG=' "$UP_LOG"; then
      break
    fi
    if ! kill -0 "$UP_PID" 2>/dev/null; then
      echo "lifeboat up exited early:" >&2
      cat "$UP_LOG" >&2
      exit 1
    fi
    sleep 0.1
  done
  grep -E '^(Lifeboat|Controllers|Metrics|kubeconfig|export)' "$UP_LOG"
  export KUBECONFIG="$STATE_DIR/kubeconfig"
  METRICS_URL=$(grep -o 'http://127.0.0.1:[0-9]*/metrics' "$UP_LOG")
}

show_objects() {
  step "kubectl wait --for=condition=Ready -n lifeboat-demo <every Lifeboat object>"
  kubectl get lifeboat -n lifeboat-demo -o name |
    xargs kubectl wait --for=condition=Ready -n lifeboat-demo --timeout=60s
  step "kubectl get lifeboat -n lifeboat-demo"
  kubectl get lifeboat -n lifeboat-demo
}

# The data path by hand, until the BackupPolicy reconciler drives it: back up the sample volumes
# into a vault, change a file, back up again (only the change is stored), restore, compare.
backup_with_cli() {
  local work=${LIFEBOAT_DEMO_DIR:-/tmp/lifeboat-demo}/cli
  rm -rf "$work"
  mkdir -p "$work"
  export LIFEBOAT_PASSWORD=demo-passphrase LIFEBOAT_VAULT="$work/vault"
  step "lifeboat vault init; lifeboat backup /tmp/lifeboat-demo/volumes   (the vault engine)"
  "$LIFEBOAT" vault init
  "$LIFEBOAT" backup "$VOLUMES_DIR"
  date -u +"demo edit at %FT%TZ" >>"$VOLUMES_DIR/app/config/app.conf"
  step "after editing app/config/app.conf: lifeboat backup again (only the change is stored)"
  "$LIFEBOAT" backup "$VOLUMES_DIR"
  "$LIFEBOAT" vault points
  "$LIFEBOAT" vault stats
  step "lifeboat restore latest --target $work/restore; diff -r against the volumes"
  "$LIFEBOAT" restore latest --target "$work/restore"
  diff -r "$VOLUMES_DIR" "$work/restore/$(basename "$VOLUMES_DIR")" && echo "restored bytes are identical"
  unset LIFEBOAT_PASSWORD LIFEBOAT_VAULT
}

show_metrics() {
  step "curl $METRICS_URL   (reconciles per controller)"
  curl -s "$METRICS_URL" | grep -E '^lifeboat_reconcile_total' | sort
}

main() {
  "$LIFEBOAT" version
  create_sample_data
  validate_manifests
  print_summary
  start_up
  show_objects
  show_metrics
  backup_with_cli
  if [[ -t 0 && -t 1 ]]; then
    step "lifeboat up keeps running. In another terminal:  export KUBECONFIG=$KUBECONFIG; kubectl get lifeboat -A"
    echo "Press Ctrl-C to stop."
    wait "$UP_PID" || true
  fi
}

main
