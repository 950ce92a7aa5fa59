#!/usr/bin/env bash
# Peak RSS of `lifeboat backup` from 10,000 to 1,000,000 small files (issue 4: flat, <= 150 MiB).
#
#   bench/vault/rss_flat.sh [--lifeboat BIN] [--work DIR] [--counts "10000 100000 1000000"]
#
# Each count gets its own tree of tiny files (100 per directory, 100 directories per parent, so
# no directory's listing grows with the count; contents drawn from 64 texts so
# the vault's index stays the same size: what grows with the count is per-file state) and one
# backup into a shared vault; /usr/bin/time reports the peak RSS. The ctest version is
# VaultCliTest.PeakMemoryStaysFlatFrom10kTo100kFiles.
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
ROOT="$(cd "$HERE/../.." && pwd)"
LB="$ROOT/build/lifeboat"
WORK=/tmp/lifeboat-rss
COUNTS="10000 100000 1000000"
while [ $# -gt 0 ]; do
  case "$1" in
    --lifeboat) LB="$2"; shift 2 ;;
    --work) WORK="$2"; shift 2 ;;
    --counts) COUNTS="$2"; shift 2 ;;
    -h|--help) sed -n '2,10p' "$0"; exit 0 ;;
    *) echo "rss_flat.sh: unknown argument $1" >&2; exit 2 ;;
  esac
done
[ -x "$LB" ] || { echo "rss_flat.sh: lifeboat binary $LB not found (use --lifeboat)" >&2; exit 2; }
command -v /usr/bin/time >/dev/null || { echo "rss_flat.sh: /usr/bin/time is missing" >&2; exit 2; }
rm -rf "$WORK"
mkdir -p "$WORK"
trap 'rm -rf "$WORK"' EXIT
export LIFEBOAT_PASSWORD=bench-passphrase
"$LB" vault init --vault "$WORK/vault" >/dev/null
printf '%10s %10s %12s\n' files seconds "peak RSS"
for n in $COUNTS; do
  python3 - "$WORK/files-$n" "$n" <<'PY'
import os, sys
root, n = sys.argv[1], int(sys.argv[2])
pool = [("line %d of a small text file\n" % i) * (5 + i) for i in range(64)]
for i in range(n):
    d = os.path.join(root, "d%d" % (i // 10000), "d%d" % (i // 100 % 100))
    if i % 100 == 0:
        os.makedirs(d)
    with open(os.path.join(d, "f%d" % i), "w") as f:
        f.write(pool[i % 64])
PY
  /usr/bin/time -f "%e %M" -o "$WORK/time" "$LB" backup "$WORK/files-$n" --vault "$WORK/vault" >/dev/null
  read -r secs kib < "$WORK/time"
  printf "%10s %10s %8.1f MiB\n" "$n" "$secs" "$(awk -v k="$kib" "BEGIN { print k / 1024 }")"
  rm -rf "$WORK/files-$n"
done
