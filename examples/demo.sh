#!/usr/bin/env bash
# make demo: the Lifeboat quickstart.
#   1. create the sample volumes the manifests protect (examples/make-sample-data.sh)
#   2. check every manifest offline:  lifeboat validate -f examples/
#   3. list what the quickstart declares, file by file
#   4. start `lifeboat up` (API server + controllers + /metrics) with these manifests
#   5. the controllers take over: the vault is initialised, an on-demand backup runs, a file is
#      restored and compared; `kubectl get lifeboat` shows it all
#   6. replication to a second `lifeboat up` (the DR site), and a test failover of the recovery
#      plan there: runbook actions, a manual approval, the copies compared, then cleaned up
#   7. the policy's own run at the next minute, then the RPO metrics and the vault through the CLI
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
  local pid
  for pid in "$UP_PID" "$DR_PID"; do
    if [[ -n "$pid" ]] && kill -0 "$pid" 2>/dev/null; then
      kill -TERM "$pid"
      wait "$pid" || true
    fi
  done
}

start_up() {
  # Everything but the recovery plan and its failover, which belong to the DR site.
  local files=() file
  for file in "$EXAMPLES"/*.yaml; do
    case "$(basename "$file")" in 80-* | 90-*) ;; *) files+=(-f "$file") ;; esac
  done
  step "lifeboat up --data-dir $STATE_DIR -f $EXAMPLES/{00..70}-*.yaml   (log: $UP_LOG)"
  mkdir -p "$STATE_DIR"
  "$LIFEBOAT" up --data-dir "$STATE_DIR" --port 0 --metrics-bind-address 127.0.0.1:0 \
    "${files[@]}" >"$UP_LOG" 2>&1 &
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

DEMO_NS=lifeboat-demo

# A fresh start every time: the demo's own state, vault and restore target only.
reset_demo_state() {
  local demo=${LIFEBOAT_DEMO_DIR:-/tmp/lifeboat-demo}
  rm -rf "$STATE_DIR" "$demo/vault" "$demo/restore" "$demo/dr-site"
}

# The disaster-recovery site of examples/60-site.yaml: a second `lifeboat up` whose replication
# endpoint listens on 127.0.0.1:8443 (in real life, another machine or cluster). The recovery
# plan lives there, next to the replicas it brings up (examples/80-recoveryplan.yaml).
DR_PID=""
DR_LOG=${LIFEBOAT_DEMO_DIR:-/tmp/lifeboat-demo}/dr-site.log
start_dr_site() {
  local demo=${LIFEBOAT_DEMO_DIR:-/tmp/lifeboat-demo}
  step "lifeboat up --data-dir $demo/dr-site --replication-port 8443 -f 00-namespace-and-secret.yaml -f 80-recoveryplan.yaml   (the DR site)"
  mkdir -p "$demo/dr-site"
  printf '%s' demo-replication-token >"$demo/dr-site.token"
  "$LIFEBOAT" up --data-dir "$demo/dr-site" --port 0 --metrics-bind-address 127.0.0.1:0 \
    --replication-port 8443 --replication-token-file "$demo/dr-site.token" \
    -f "$EXAMPLES/00-namespace-and-secret.yaml" -f "$EXAMPLES/80-recoveryplan.yaml" \
    >"$DR_LOG" 2>&1 &
  DR_PID=$!
  trap stop_up EXIT
  local i
  for i in $(seq 1 300); do
    grep -q '^export KUBECONFIG=' "$DR_LOG" && break
    kill -0 "$DR_PID" 2>/dev/null || break
    sleep 0.1
  done
  grep -E '^(Replication endpoint|kubeconfig)' "$DR_LOG" || {
    echo "the DR site did not start (port 8443 busy?); replication will show Degraded:" >&2
    cat "$DR_LOG" >&2
  }
  DR_KUBECONFIG="$demo/dr-site/kubeconfig"
}

# A test failover at the DR site: the plan's groups come up from the latest replicated points in
# an isolated place, with the runbook actions, while production and replication carry on.
show_test_failover() {
  local dr=(--kubeconfig "$DR_KUBECONFIG" -n "$DEMO_NS")
  step "the recovery plan at the DR site: Ready once every policy has a replica there"
  KUBECONFIG=$DR_KUBECONFIG kubectl -n "$DEMO_NS" wait --for=condition=Ready recoveryplan/demo-plan --timeout=120s
  KUBECONFIG=$DR_KUBECONFIG kubectl -n "$DEMO_NS" get recoveryplans
  step "lifeboat failover demo-plan --type Test --name drill-1   (examples/90-failover-test.yaml does the same with kubectl)"
  "$LIFEBOAT" failover demo-plan --type Test --name drill-1 --timeout 5m "${dr[@]}" &
  local follow=$! i phase=""
  for i in $(seq 1 600); do
    phase=$(KUBECONFIG=$DR_KUBECONFIG kubectl -n "$DEMO_NS" get failover drill-1 -o jsonpath='{.status.phase}' 2>/dev/null || true)
    [[ "$phase" == WaitingForApproval || "$phase" == Succeeded || "$phase" == Failed ]] && break
    sleep 0.2
  done
  if [[ "$phase" == WaitingForApproval ]]; then
    step "a person approves the manual step: lifeboat failover approve drill-1 approve-dns-switch"
    "$LIFEBOAT" failover approve drill-1 approve-dns-switch "${dr[@]}"
  fi
  wait "$follow" || true
  local target
  target=$(KUBECONFIG=$DR_KUBECONFIG kubectl -n "$DEMO_NS" get failover drill-1 -o jsonpath='{.status.targetDir}')
  step "the test copies in $target, compared with production"
  ls "$target"
  diff -r "$VOLUMES_DIR/app" "$target/app-replication/app" >/dev/null &&
    echo "app volume: identical to production at the recovery point"
  cmp "$VOLUMES_DIR/disk.img" "$target/web-replication/disk" &&
    echo "disk image: identical to production at the recovery point"
  step "lifeboat failover demo-plan --type CleanupTest   (removes everything the test made)"
  "$LIFEBOAT" failover demo-plan --type CleanupTest --name drill-1-cleanup --timeout 2m "${dr[@]}"
  KUBECONFIG=$DR_KUBECONFIG kubectl -n "$DEMO_NS" get failovers
}

show_replication() {
  step "replication to the DR site: initial copy, then a differential cycle within each RPO"
  kubectl -n "$DEMO_NS" wait --for=condition=Ready site/dr-site --timeout=60s || true
  local i
  for i in $(seq 1 120); do
    local phases
    phases=$(kubectl -n "$DEMO_NS" get replicationpolicies -o jsonpath='{range .items[*]}{.status.phase}{" "}{end}')
    [[ "$phases" == "Protected Protected Protected " ]] && break
    sleep 1
  done
  kubectl -n "$DEMO_NS" get sites,replicationpolicies
}

show_backups() {
  step "kubectl wait --for=condition=Ready vault/demo-vault backuppolicy/app-backup   (the vault is initialised)"
  kubectl -n "$DEMO_NS" wait --for=condition=Ready vault/demo-vault backuppolicy/app-backup --timeout=120s
  step "the on-demand backup (examples/30-recoverypoint.yaml) runs: pre-hook, 3 volumes, post-hook"
  kubectl -n "$DEMO_NS" wait --for=condition=Ready recoverypoint/app-backup-on-demand --timeout=300s
  kubectl -n "$DEMO_NS" get recoverypoint app-backup-on-demand \
    -o custom-columns='POINT:.metadata.name,PHASE:.status.phase,FILES:.status.files,BYTES:.status.bytes,NEW:.status.newBytes,STORED:.status.storedBytes,CONSISTENCY:.status.consistencyAchieved'
  step "the restore (examples/40-restore.yaml): app/config/app.conf from the newest point, verified"
  kubectl -n "$DEMO_NS" wait --for=condition=Ready restore/restore-app-config --timeout=300s
  kubectl -n "$DEMO_NS" get restore restore-app-config -o jsonpath='{.status.message}{"\n"}'
  local demo=${LIFEBOAT_DEMO_DIR:-/tmp/lifeboat-demo}
  diff "$VOLUMES_DIR/app/config/app.conf" "$demo/restore/app/config/app.conf" &&
    echo "restored app.conf is byte-identical to the volume's"
  step "kubectl get lifeboat -n $DEMO_NS"
  kubectl get lifeboat -n "$DEMO_NS"
}

wait_for_scheduled_run() {
  step "the policy runs every minute: waiting for its scheduled run at $(date -u -d '+1 minute' +%H:%M):00 UTC"
  local i name=""
  for i in $(seq 1 150); do
    name=$(kubectl -n "$DEMO_NS" get recoverypoints -l lifeboat.dev/policy=app-backup \
      -o jsonpath='{range .items[?(@.spec.scheduledTime)]}{.metadata.name}{" "}{.status.phase}{"\n"}{end}' |
      awk '$2 == "Completed" {print $1}' | tail -1)
    [[ -n "$name" ]] && break
    sleep 1
  done
  if [[ -z "$name" ]]; then
    echo "no scheduled run completed yet; see $UP_LOG" >&2
    return 1
  fi
  kubectl -n "$DEMO_NS" get recoverypoints
  kubectl -n "$DEMO_NS" get backuppolicy app-backup \
    -o custom-columns='POLICY:.metadata.name,LAST:.status.lastRecoveryPoint,POINTS:.status.recoveryPointCount,RPO_SECONDS:.status.currentRPOSeconds,NEXT:.status.nextBackupTime'
}

show_vault_with_cli() {
  local demo=${LIFEBOAT_DEMO_DIR:-/tmp/lifeboat-demo}
  step "the same vault through the CLI: lifeboat vault points / stats --vault $demo/vault"
  LIFEBOAT_PASSWORD=correct-horse-battery-staple "$LIFEBOAT" vault points --vault "$demo/vault"
  LIFEBOAT_PASSWORD=correct-horse-battery-staple "$LIFEBOAT" vault stats --vault "$demo/vault"
}

show_metrics() {
  step "curl $METRICS_URL   (the objective beside its observation; reconciles per controller)"
  curl -s "$METRICS_URL" |
    grep -E '^lifeboat_(rpo_target_seconds|last_recovery_point_timestamp_seconds|volume_protected|backup_total|restore_total|vault_(stored_bytes|dedup_ratio|ready)|reconcile_total)' |
    sort
  echo "RPO ratio = (time() - lifeboat_last_recovery_point_timestamp_seconds) / lifeboat_rpo_target_seconds"
}

main() {
  "$LIFEBOAT" version
  reset_demo_state
  create_sample_data
  validate_manifests
  print_summary
  start_dr_site
  start_up
  show_backups
  show_replication
  show_test_failover
  wait_for_scheduled_run
  show_metrics
  show_vault_with_cli
  if [[ -t 0 && -t 1 ]]; then
    step "lifeboat up keeps running. In another terminal:  export KUBECONFIG=$KUBECONFIG; kubectl get lifeboat -A"
    echo "Press Ctrl-C to stop."
    wait "$UP_PID" || true
  fi
}

main
