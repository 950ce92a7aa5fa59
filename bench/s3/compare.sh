#!/usr/bin/env bash
# Backup and restore of the shared dataset to S3 (the s3rver test server on loopback, tests/s3/)
# against the same to a local directory, in one run.
#
#   bench/s3/compare.sh [--scale F] [--work DIR] [--lifeboat BIN] [--seed N]
#
# Steps per target: vault init, full backup, full restore (verified with make-dataset.py
# digest). Reports wall time, throughput over the dataset's logical size, and for S3 the HTTP
# requests (and requests per GB of logical data) the server saw for each step, from the test
# server's /_stats. s3rver stores objects as plain files behind a Node.js process on the same
# machine: the S3 figures are the protocol's cost (signing, HTTP, one request per pack), not a
# cloud's.
set -euo pipefail

SCALE=0.1
WORK=/tmp/lifeboat-bench-s3
SEED=1
HERE="$(cd "$(dirname "$0")" && pwd)"
ROOT="$(cd "$HERE/../.." && pwd)"
LB="$ROOT/build/lifeboat"
DATASET="${DATASET_TOOL:-$ROOT/../shared/bench/make-dataset.py}"
while [ $# -gt 0 ]; do
  case "$1" in
    --scale) SCALE="$2"; shift 2 ;;
    --work) WORK="$2"; shift 2 ;;
    --lifeboat) LB="$2"; shift 2 ;;
    --seed) SEED="$2"; shift 2 ;;
    -h|--help) sed -n '2,13p' "$0"; exit 0 ;;
    *) echo "compare.sh: unknown argument $1" >&2; exit 2 ;;
  esac
done
[ -x "$LB" ] || { echo "compare.sh: lifeboat binary $LB not found (use --lifeboat)" >&2; exit 2; }
[ -f "$DATASET" ] || DATASET=/work/shared/bench/make-dataset.py
[ -d "$ROOT/tests/s3/node_modules/s3rver" ] || {
  echo "compare.sh: the S3 test server is not installed (make test-deps)" >&2; exit 2; }
for tool in node curl python3; do
  command -v "$tool" >/dev/null || { echo "compare.sh: $tool is missing (make test-deps)" >&2; exit 2; }
done

rm -rf "$WORK"
mkdir -p "$WORK/s3"
SERVER_PID=""
cleanup() {
  [ -n "$SERVER_PID" ] && kill "$SERVER_PID" 2>/dev/null && wait "$SERVER_PID" 2>/dev/null
  rm -rf "$WORK"
}
trap cleanup EXIT
DATA="$WORK/data"
export LIFEBOAT_PASSWORD=bench-passphrase AWS_ACCESS_KEY_ID=bench-key AWS_SECRET_ACCESS_KEY=bench-secret

echo "== dataset: scale $SCALE seed $SEED in $DATA"
python3 "$DATASET" gen "$DATA" --seed "$SEED" --scale "$SCALE" >/dev/null
python3 "$DATASET" stats "$DATA" | sed 's/^/   /'
DIGEST=$(python3 "$DATASET" digest "$DATA" | cut -d" " -f1)
LOGICAL=$(du -sb --apparent-size "$DATA" | cut -f1)

# The server reads its stdin until EOF: a pipe from a sleeping process keeps it alive.
mkfifo "$WORK/server.in"
node --openssl-legacy-provider "$ROOT/tests/s3/server.js" --directory "$WORK/s3" --bucket bench \
  --access-key-id "$AWS_ACCESS_KEY_ID" --secret-access-key "$AWS_SECRET_ACCESS_KEY" \
  <"$WORK/server.in" >"$WORK/server.out" 2>&1 &
SERVER_PID=$!
exec 3>"$WORK/server.in"
for _ in $(seq 1 300); do
  grep -q '^listening ' "$WORK/server.out" 2>/dev/null && break
  kill -0 "$SERVER_PID" 2>/dev/null || { cat "$WORK/server.out" >&2; exit 1; }
  read -r -t 0.1 <> <(:) || true
done
PORT=$(sed -n 's/^listening .*:\([0-9]*\)$/\1/p' "$WORK/server.out")
[ -n "$PORT" ] || { echo "compare.sh: the S3 test server did not start" >&2; exit 1; }
requests() { curl -sf "http://127.0.0.1:$PORT/_stats" | python3 -c 'import json,sys; print(json.load(sys.stdin)["requests"])'; }

declare -A SECONDS_OF REQUESTS_OF
# step TARGET STEP CMD...: wall seconds of CMD (and S3 requests during it).
step() {
  local target="$1" name="$2"; shift 2
  local before after start end
  before=$(requests)
  start=$(date +%s.%N)
  if ! "$@" >"$WORK/log.$target.$name" 2>&1; then
    echo "compare.sh: $target $name failed:" >&2
    tail -5 "$WORK/log.$target.$name" >&2
    exit 1
  fi
  end=$(date +%s.%N)
  after=$(requests)
  SECONDS_OF[$target.$name]=$(python3 -c "print(f'{$end - $start:.2f}')")
  REQUESTS_OF[$target.$name]=$((after - before))
}

for target in local s3; do
  if [ "$target" = local ]; then VAULT="$WORK/local-vault"; else
    VAULT="s3:http://127.0.0.1:$PORT/bench/vault"; fi
  echo "== $target: $VAULT"
  step "$target" init "$LB" vault init --vault "$VAULT"
  step "$target" backup "$LB" backup --vault "$VAULT" "$DATA"
  step "$target" restore "$LB" restore --vault "$VAULT" latest --target "$WORK/restore-$target"
  GOT=$(python3 "$DATASET" digest "$WORK/restore-$target/data" | cut -d" " -f1)
  [ "$GOT" = "$DIGEST" ] || { echo "compare.sh: $target restore differs from the dataset" >&2; exit 1; }
  rm -rf "$WORK/restore-$target"
done
STORED_LOCAL=$(du -sb "$WORK/local-vault" | cut -f1)

python3 - "$LOGICAL" "$STORED_LOCAL" <<PY
import sys
logical, stored = int(sys.argv[1]), int(sys.argv[2])
gb = logical / 1e9
rows = {
  "local": (${SECONDS_OF[local.backup]}, ${SECONDS_OF[local.restore]}, None, None),
  "s3":    (${SECONDS_OF[s3.backup]}, ${SECONDS_OF[s3.restore]},
            ${REQUESTS_OF[s3.backup]}, ${REQUESTS_OF[s3.restore]}),
}
print(f"== logical {logical/2**20:.1f} MiB, stored {stored/2**20:.1f} MiB (local vault)")
print(f"{'target':8} {'backup s':>9} {'MiB/s':>8} {'restore s':>10} {'MiB/s':>8} "
      f"{'req backup':>11} {'req/GB':>8} {'req restore':>12} {'req/GB':>8}")
for name, (b, r, rb, rr) in rows.items():
    mib = logical / 2**20
    fmt = lambda v: "-" if v is None else str(v)
    per = lambda v: "-" if v is None else f"{v / gb:.0f}"
    print(f"{name:8} {b:9.2f} {mib / b:8.1f} {r:10.2f} {mib / r:8.1f} "
          f"{fmt(rb):>11} {per(rb):>8} {fmt(rr):>12} {per(rr):>8}")
print(f"s3/local time: backup {rows['s3'][0] / rows['local'][0]:.2f}x, "
      f"restore {rows['s3'][1] / rows['local'][1]:.2f}x")
PY
