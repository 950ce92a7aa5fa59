#!/usr/bin/env bash
# What bounds a first snapshot on this machine: the durable write rate of the disk against the
# page-cache copy that `cp --sparse=always` makes of the same image.
#
#   bench/snapshot/disk-bound.sh [--data DIR] [--work DIR] [--mib N] [--reps N] [--lifeboat BIN]
#
# In one run, alternating, on a warm page cache (best of --reps, default 3):
#   cp          cp --sparse=always of the image (fills the page cache only)
#   cp+sync     the same followed by `sync` (until it is on the disk)
#   first       (with --lifeboat) lifeboat snapshot create of the image into a fresh store
#               (16K blocks), durable when it returns
#   direct1     dd of N MiB of the image (default: its allocated size, what a first snapshot
#               writes before deduplication) with oflag=direct, 4 MiB writes, one in flight, then
#               fdatasync: a durable write of the same amount of data
#   direct4     the same N MiB as four concurrent dd's (oflag=direct, 4 MiB writes) into disjoint
#               quarters of a preallocated file, then sync (what the pack writer does: 4 runs in
#               flight into a preallocated pack)
#   sha256      openssl dgst -sha256 of the image from the page cache, scaled to N MiB (the content
#               hash a snapshot must compute for its new blocks, one core)
# cp and first are also reported as CPU time (user + sys, /usr/bin/time), the better measure on
# a busy machine.
set -euo pipefail

DATA=/tmp/lifeboat-bench-data
WORK=/tmp/lifeboat-snapshot-bound
MIB=""
REPS=3
LB=""
while [ $# -gt 0 ]; do
  case "$1" in
    --data) DATA="$2"; shift 2 ;;
    --work) WORK="$2"; shift 2 ;;
    --mib) MIB="$2"; shift 2 ;;
    --reps) REPS="$2"; shift 2 ;;
    --lifeboat) LB="$2"; shift 2 ;;
    -h|--help) sed -n '2,24p' "$0"; exit 0 ;;
    *) echo "disk-bound.sh: unknown argument $1" >&2; exit 2 ;;
  esac
done
SRC="$DATA/disk.img"
[ -f "$SRC" ] || { echo "disk-bound.sh: $SRC not found (run compare.sh once)" >&2; exit 2; }
if [ -z "$MIB" ]; then
  MIB=$(( $(du -s --block-size=1 "$SRC" | awk '{print $1}') / 1048576 / 4 * 4 ))
fi
Q=$(( MIB / 4 / 4 ))  # 4 MiB blocks per quarter

rm -rf "$WORK"
mkdir -p "$WORK"
trap 'rm -rf "$WORK"' EXIT
now() { date +%s.%N; }
secs() { python3 -c "print(f'{$2 - $1:.2f}')"; }
minof() { python3 -c "import sys; print(f'{min(map(float, sys.argv[1:])):.2f}')" "$@"; }
ratio() { python3 -c "print(f'{$1 / $2:.2f}')"; }

cat "$SRC" >/dev/null
export LIFEBOAT_PASSWORD=bench-passphrase
cpu() { awk '{printf "%.2f", $1 + $2}' "$WORK/time"; }
cps=() cpss=() cpcpu=() firsts=() firstcpu=() d1s=() d4s=() shas=()
for rep in $(seq "$REPS"); do
  rm -f "$WORK"/*; sync
  t0=$(now)
  /usr/bin/time -f "%U %S" -o "$WORK/time" cp --sparse=always "$SRC" "$WORK/copy.img"
  t1=$(now); sync; t2=$(now)
  cps+=("$(secs "$t0" "$t1")"); cpss+=("$(secs "$t0" "$t2")"); cpcpu+=("$(cpu)")
  if [ -n "$LB" ]; then
    rm -rf "$WORK/copy.img" "$WORK/store"; sync
    t0=$(now)
    /usr/bin/time -f "%U %S" -o "$WORK/time" "$LB" snapshot create --store "$WORK/store" \
      --block-size 16K --volume disk="$SRC" --json >/dev/null
    t1=$(now)
    firsts+=("$(secs "$t0" "$t1")"); firstcpu+=("$(cpu)")
    rm -rf "$WORK/store"
  fi
  rm -f "$WORK"/*; sync
  t0=$(now)
  dd if="$SRC" of="$WORK/direct1" bs=4M count=$(( MIB / 4 )) oflag=direct conv=fdatasync status=none
  t1=$(now)
  d1s+=("$(secs "$t0" "$t1")")
  rm -f "$WORK"/*; sync
  t0=$(now)
  fallocate -l $(( MIB * 1048576 )) "$WORK/direct4"
  for i in 0 1 2 3; do
    dd if="$SRC" of="$WORK/direct4" bs=4M skip=$(( i * Q )) seek=$(( i * Q )) count=$Q \
      oflag=direct conv=notrunc status=none &
  done
  wait
  sync "$WORK/direct4"
  t1=$(now)
  d4s+=("$(secs "$t0" "$t1")")
  # The whole 1 GiB file (holes read as zeros), scaled to N MiB.
  t0=$(now); openssl dgst -sha256 "$SRC" >/dev/null; t1=$(now)
  shas+=("$(python3 -c "print(f'{($t1 - $t0) * $MIB / 1024:.2f}')")")
done
cp_s=$(minof "${cps[@]}"); cps_s=$(minof "${cpss[@]}")
d1=$(minof "${d1s[@]}"); d4=$(minof "${d4s[@]}"); sha=$(minof "${shas[@]}")
if [ -n "$LB" ]; then
  f=$(minof "${firsts[@]}")
  echo "first snapshot ${f}s (CPU $(minof "${firstcpu[@]}")s), cp ${cp_s}s (CPU $(minof "${cpcpu[@]}")s):" \
       "first/cp $(ratio "$f" "$cp_s")  first/(cp+sync) $(ratio "$f" "$cps_s")"
fi
echo "data ${MIB} MiB (allocated size of the image), best of $REPS:"
echo "  cp ${cp_s}s  cp+sync ${cps_s}s  direct1 ${d1}s ($(python3 -c "print(f'{$MIB / $d1:.0f}')") MiB/s)" \
     " direct4 ${d4}s ($(python3 -c "print(f'{$MIB / $d4:.0f}')") MiB/s)  sha256 ${sha}s"
echo "  direct1/cp $(ratio "$d1" "$cp_s")  direct4/cp $(ratio "$d4" "$cp_s")  sha256/cp $(ratio "$sha" "$cp_s")" \
     " direct4/(cp+sync) $(ratio "$d4" "$cps_s")"
