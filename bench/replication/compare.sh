#!/usr/bin/env bash
# Lifeboat replication against rsync over loopback, on make-dataset.py's dataset:
#   1. initial replication (wall time, bytes on the wire) — rsync daemon vs lifeboat receiver
#   2. the delta after `make-dataset.py mutate` (the issue's targets: wall <= 0.5x rsync,
#      bytes <= 1.5x rsync)
#   3. sustained RPO: a writer changes the image at 20 MB/s while cycles run back to back
# Usage: bench/replication/compare.sh [SCALE] [RPO_SECONDS]   (defaults 1 and 120)
# Env: BUILD_DIR (default build-replication next to the sources), WORK (default
# /tmp/lifeboat-repl-bench), RSYNC_FLAGS (default "-a --delete"; also reported with -z).
set -euo pipefail

SCALE="${1:-1}"
RPO_SECONDS="${2:-120}"
HERE="$(cd "$(dirname "$0")" && pwd)"
SRCDIR="$(cd "$HERE/../.." && pwd)"
BUILD_DIR="${BUILD_DIR:-$SRCDIR/build-replication}"
LIFEBOAT="$BUILD_DIR/lifeboat"
TOOL="$BUILD_DIR/bench/replication/replication_bench_tool"
DATASET_PY="${DATASET_PY:-$SRCDIR/../shared/bench/make-dataset.py}"
[ -f "$DATASET_PY" ] || DATASET_PY=/work/shared/bench/make-dataset.py
WORK="${WORK:-/tmp/lifeboat-repl-bench}"
RSYNC_FLAGS="${RSYNC_FLAGS:--a --delete}"
if [ "$SCALE" = "1" ]; then DATA=/tmp/lifeboat-bench-data; else DATA="/tmp/lifeboat-bench-data-scale-$SCALE"; fi

for f in "$LIFEBOAT" "$TOOL"; do
  [ -x "$f" ] || { echo "missing $f: cmake --build $BUILD_DIR --target lifeboat replication_bench_tool" >&2; exit 1; }
done
command -v rsync >/dev/null || { echo "rsync is not installed (apt-get install rsync)" >&2; exit 1; }

if [ ! -f "$DATA/disk.img" ]; then
  echo "== generating the dataset (scale $SCALE) into $DATA"
  python3 "$DATASET_PY" gen "$DATA" --scale "$SCALE" >/dev/null
fi

PIDS=()
cleanup() { for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done; }
trap cleanup EXIT

rm -rf "$WORK"
mkdir -p "$WORK"/{rsync-dst,root,state}
echo "== copying the dataset to a working source ($WORK/src)"
cp -a --sparse=always "$DATA" "$WORK/src"
SRC="$WORK/src"

now() { date +%s.%N; }
elapsed() { python3 -c "print(f'{$2 - $1:.2f}')"; }

# rsync daemon on a free loopback port.
RSYNC_PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
cat > "$WORK/rsyncd.conf" <<CONF
pid file = $WORK/rsyncd.pid
use chroot = no
[dst]
path = $WORK/rsync-dst
read only = no
uid = root
gid = root
CONF
rsync --daemon --no-detach --address=127.0.0.1 --port="$RSYNC_PORT" --config="$WORK/rsyncd.conf" &
PIDS+=($!)

# lifeboat receiver on a free port, token auth, self-signed certificate.
head -c 24 /dev/urandom | base64 > "$WORK/token"
"$LIFEBOAT" receiver --root "$WORK/root" --address 127.0.0.1 --port 0 --token-file "$WORK/token" \
  --log-level warn > "$WORK/receiver.out" 2>"$WORK/receiver.err" &
PIDS+=($!)
for _ in $(seq 100); do grep -q "listening on" "$WORK/receiver.out" 2>/dev/null && break; sleep 0.1; done
ENDPOINT=$(sed -n 's/^listening on //p' "$WORK/receiver.out")
[ -n "$ENDPOINT" ] || { cat "$WORK/receiver.err"; exit 1; }
for _ in $(seq 50); do rsync "rsync://127.0.0.1:$RSYNC_PORT/" >/dev/null 2>&1 && break; sleep 0.1; done

rsync_run() {  # prints "seconds bytes_on_wire"
  local t0 t1 out
  t0=$(now)
  out=$(rsync $RSYNC_FLAGS $1 --stats "$SRC/" "rsync://127.0.0.1:$RSYNC_PORT/dst/")
  t1=$(now)
  local sent recv
  sent=$(echo "$out" | sed -n 's/^Total bytes sent: \([0-9,]*\).*/\1/p' | tr -d ,)
  recv=$(echo "$out" | sed -n 's/^Total bytes received: \([0-9,]*\).*/\1/p' | tr -d ,)
  echo "$(elapsed "$t0" "$t1") $((sent + recv))"
}

lifeboat_run() {  # prints "seconds bytes_on_wire" (request + response bytes)
  local t0 t1 out
  t0=$(now)
  out=$("$TOOL" replicate --endpoint "$ENDPOINT" --ca-file "$WORK/root/.tls/tls.crt" \
        --token-file "$WORK/token" --state-dir "$WORK/state" "$SRC")
  t1=$(now)
  echo "$out" > "$WORK/last-cycle.json"
  python3 - "$out" "$(elapsed "$t0" "$t1")" <<'PY'
import json, sys
j = json.loads(sys.argv[1].splitlines()[-1])
print(sys.argv[2], j["bytesSent"] + j["bytesReceived"])
PY
}

verify() {  # materialise the latest point and compare digests with the source and rsync's copy
  rm -rf "$WORK/materialized"
  local m
  m=$("$TOOL" materialize --root "$WORK/root" --target "$WORK/materialized")
  local d_src d_lb d_rs
  d_src=$(python3 "$DATASET_PY" digest "$SRC" | cut -d' ' -f1)
  d_lb=$(python3 "$DATASET_PY" digest "$WORK/materialized/src" | cut -d' ' -f1)
  d_rs=$(python3 "$DATASET_PY" digest "$WORK/rsync-dst" | cut -d' ' -f1)
  echo "   materialise: $(echo "$m" | python3 -c 'import json,sys; j=json.load(sys.stdin); print("%.0f MB, %d files in %.2f s" % (j["bytes"]/1e6, j["files"], j["seconds"]))')"
  echo "   digest source=$d_src lifeboat=$([ "$d_lb" = "$d_src" ] && echo same || echo DIFFERENT) rsync=$([ "$d_rs" = "$d_src" ] && echo same || echo DIFFERENT)"
  [ "$d_lb" = "$d_src" ]
}

report() {  # phase rsync_s rsync_b lb_s lb_b
  python3 - "$@" <<'PY'
import sys
phase, rs, rb, ls, lb = sys.argv[1], *map(float, sys.argv[2:])
print(f"{phase:8s} rsync   {rs:7.2f} s  {rb/1e6:9.1f} MB")
print(f"{phase:8s} lifeboat{ls:7.2f} s  {lb/1e6:9.1f} MB")
print(f"{phase:8s} ratio   {ls/rs:7.2f} x  {lb/rb:9.2f} x   (lifeboat / rsync)")
PY
}

sync
echo "== initial replication (rsync $RSYNC_FLAGS vs lifeboat), scale $SCALE"
read -r RS_T RS_B < <(rsync_run "")
read -r LB_T LB_B < <(lifeboat_run)
report initial "$RS_T" "$RS_B" "$LB_T" "$LB_B"
verify

echo "== mutate (day 1)"
python3 "$DATASET_PY" mutate "$SRC" --day 1 | sed 's/^/   /'
sync
echo "== delta"
read -r LB_T2 LB_B2 < <(lifeboat_run)
read -r RS_T2 RS_B2 < <(rsync_run "")
report delta "$RS_T2" "$RS_B2" "$LB_T2" "$LB_B2"
echo "   lifeboat cycle: $(cat "$WORK/last-cycle.json")"
verify

echo "== delta again (day 2) with rsync -z for reference"
python3 "$DATASET_PY" mutate "$SRC" --day 2 >/dev/null
sync
read -r LB_T3 LB_B3 < <(lifeboat_run)
read -r RS_T3 RS_B3 < <(rsync_run "-z")
report delta-z "$RS_T3" "$RS_B3" "$LB_T3" "$LB_B3"

if [ "$RPO_SECONDS" != "0" ]; then
  echo "== sustained RPO: writer at 20 MB/s into disk.img, cycles back to back for $RPO_SECONDS s"
  python3 - "$SRC/disk.img" "$((RPO_SECONDS + 5))" <<'PY' &
import os, random, sys, time
path, seconds = sys.argv[1], float(sys.argv[2])
rate, piece = 20 * 1000 * 1000, 1 << 20
size = os.path.getsize(path)
fd = os.open(path, os.O_WRONLY)
r = random.Random(7)
start = time.time(); written = 0
while time.time() - start < seconds:
    off = r.randrange(0, size - piece) // 4096 * 4096
    os.pwrite(fd, os.urandom(piece), off)
    written += piece
    ahead = written / rate - (time.time() - start)
    if ahead > 0:
        time.sleep(ahead)
print(f"   writer: {written/1e6:.0f} MB in {time.time()-start:.0f} s", file=sys.stderr)
PY
  WRITER=$!
  PIDS+=($WRITER)
  "$TOOL" replicate --endpoint "$ENDPOINT" --ca-file "$WORK/root/.tls/tls.crt" \
    --token-file "$WORK/token" --state-dir "$WORK/state" --loop-seconds "$RPO_SECONDS" "$SRC" \
    > "$WORK/rpo.jsonl"
  python3 - "$WORK/rpo.jsonl" <<'PY'
import json, sys
cycles = [json.loads(l) for l in open(sys.argv[1]) if l.startswith("{")]
summary = [json.loads(l.split(" ", 1)[1]) for l in open(sys.argv[1]) if l.startswith("summary")][0]
secs = sorted(c["seconds"] for c in cycles)
sent = sum(c["bytesSent"] for c in cycles)
print(f"   cycles={summary['cycles']} cycle p50={secs[len(secs)//2]:.2f} s max={secs[-1]:.2f} s, sent {sent/1e6:.0f} MB")
print(f"   achieved RPO: p50={summary['rpoP50Seconds']:.2f} s  p90={summary['rpoP90Seconds']:.2f} s  max={summary['rpoMaxSeconds']:.2f} s  (target <= 60 s)")
PY
  wait "$WRITER" || true
fi
