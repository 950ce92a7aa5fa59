#!/usr/bin/env bash
# Snapshot benchmark on the 1 GiB disk image of ../shared/bench/make-dataset.py.
#
#   bench/snapshot/compare.sh [--data DIR] [--work DIR] [--lifeboat BIN] [--block-sizes "4K 16K"]
#                             [--reps N]
#
# For each block size, in one run and on the same warm page cache:
#   cp      cp --sparse=always of the image (the baseline; also timed with a following `sync`,
#           since a snapshot is durable when it returns and cp's copy is not)
#   first   lifeboat snapshot create of the image
#   mutate  make-dataset.py mutate --day 1 (rewrites ~2 % of the image in scattered extents)
#   cp2     cp --sparse=always of the mutated image
#   incr    lifeboat snapshot create of the mutated image (incremental)
# then, for the default block size, restore of the mutated image from the snapshot vs
# `lifeboat restore` from a vault holding the same image (lifeboat vault init + backup).
# Space is allocated bytes (du --block-size=1). Changed bytes are the random + zero bytes that
# mutate reports for disk.img. Each time is the fastest of --reps runs (default 3), cp and
# lifeboat alternating, so both see the same machine; only ratios of one run mean anything.
set -euo pipefail

HERE="$(cd "$(dirname "$0")" && pwd)"
ROOT="$(cd "$HERE/../.." && pwd)"
DATA=/tmp/lifeboat-bench-data
WORK=/tmp/lifeboat-snapshot-bench
LB="$ROOT/build/lifeboat"
BLOCK_SIZES="4K 8K 16K 64K"
DEFAULT_BS=16K
REPS=3
DATASET="${DATASET_TOOL:-$ROOT/../shared/bench/make-dataset.py}"
while [ $# -gt 0 ]; do
  case "$1" in
    --data) DATA="$2"; shift 2 ;;
    --work) WORK="$2"; shift 2 ;;
    --lifeboat) LB="$2"; shift 2 ;;
    --block-sizes) BLOCK_SIZES="$2"; shift 2 ;;
    --reps) REPS="$2"; shift 2 ;;
    -h|--help) sed -n '2,20p' "$0"; exit 0 ;;
    *) echo "compare.sh: unknown argument $1" >&2; exit 2 ;;
  esac
done
[ -x "$LB" ] || { echo "compare.sh: lifeboat binary $LB not found (use --lifeboat)" >&2; exit 2; }
[ -f "$DATASET" ] || DATASET=/work/shared/bench/make-dataset.py
[ -f "$DATASET" ] || { echo "compare.sh: make-dataset.py not found" >&2; exit 2; }

if [ ! -f "$DATA/disk.img" ]; then
  echo "== generating the dataset (scale 1) in $DATA"
  python3 "$DATASET" gen "$DATA.gen.$$" --scale 1 >/dev/null
  mv "$DATA.gen.$$" "$DATA"
fi
SRC="$DATA/disk.img"

rm -rf "$WORK"
mkdir -p "$WORK"
trap 'rm -rf "$WORK"' EXIT
export LIFEBOAT_PASSWORD=bench-passphrase

now() { date +%s.%N; }
secs() { python3 -c "print(f'{$2 - $1:.2f}')"; }
alloc() { du -s --block-size=1 "$@" | awk '{s+=$1} END {print s}'; }
ratio() { python3 -c "print(f'{$1 / $2:.2f}')"; }
mib() { python3 -c "print(f'{$1 / 1048576:.1f}')"; }
warm() { cat "$1" >/dev/null; }
warmdir() { (cd "$1" && tar -cf - . | cat >/dev/null); }
minof() { python3 -c "import sys; print(f'{min(map(float, sys.argv[1:])):.2f}')" "$@"; }

# A minimal dataset directory around a copy of the image, so `mutate` can run on it: mutate
# changes disk.img first, so the image changes are identical to those on the full dataset.
make_volume() {
  local dir="$1"
  mkdir -p "$dir/media" "$dir/src/p00/m00"
  head -c 65536 /dev/zero | tr '\0' 'a' >"$dir/media/blob-0.bin"
  head -c 65536 /dev/zero | tr '\0' 'b' >"$dir/media/blob-1.bin"
  for i in 0 1 2 3; do echo "line $i" >"$dir/src/p00/m00/f$i.txt"; done
}

RESULTS="$WORK/results.txt"
: >"$RESULTS"
report() { echo "$*" | tee -a "$RESULTS"; }

report "block  cp_s  cp+sync_s  first_s  first/cp  first/(cp+sync)  cp2_s  incr_s  incr/cp2  changed_MiB  incr_space_MiB  space/changed  first_space_MiB  cp_space_MiB"
for BS in $BLOCK_SIZES; do
  VOL="$WORK/vol-$BS" STORE="$WORK/store-$BS"
  make_volume "$VOL"
  warm "$SRC"
  cps=() cpss=() firsts=()
  for rep in $(seq "$REPS"); do
    rm -rf "$STORE" "$VOL/disk.img"
    sync
    warm "$SRC"
    t0=$(now); cp --sparse=always "$SRC" "$VOL/disk.img"; t1=$(now); sync; t2=$(now)
    cps+=("$(secs "$t0" "$t1")"); cpss+=("$(secs "$t0" "$t2")")
    warm "$VOL/disk.img"
    t0=$(now)
    "$LB" snapshot create --store "$STORE" --block-size "$BS" --volume disk="$VOL/disk.img" \
      --json >"$WORK/first-$BS.json"
    t1=$(now)
    firsts+=("$(secs "$t0" "$t1")")
  done
  cp_s=$(minof "${cps[@]}"); cps_s=$(minof "${cpss[@]}"); first_s=$(minof "${firsts[@]}")
  cp_space=$(alloc "$VOL/disk.img")
  first_space=$(alloc "$STORE")
  changed=$(python3 "$DATASET" mutate "$VOL" --day 1 |
            sed -n 's/.*image.* \([0-9]*\) random + \([0-9]*\) zero bytes.*/\1 \2/p' |
            awk '{print $1 + $2}')
  sync
  cp2s=() incrs=()
  for rep in $(seq "$REPS"); do
    warm "$VOL/disk.img"
    t0=$(now); cp --sparse=always "$VOL/disk.img" "$WORK/copy2-$BS.img"; t1=$(now)
    cp2s+=("$(secs "$t0" "$t1")")
    rm -f "$WORK/copy2-$BS.img"
    sync
    warm "$VOL/disk.img"
    t0=$(now)
    "$LB" snapshot create --store "$STORE" --volume disk="$VOL/disk.img" --json >"$WORK/incr-$BS.json"
    t1=$(now)
    incrs+=("$(secs "$t0" "$t1")")
    # Space of the first incremental only (later ones of the same content store nothing).
    if [ "$rep" = 1 ]; then
      incr_space=$(( $(alloc "$STORE") - first_space ))
    fi
  done
  cp2_s=$(minof "${cp2s[@]}"); incr_s=$(minof "${incrs[@]}")
  report "$BS  $cp_s  $cps_s  $first_s  $(ratio "$first_s" "$cp_s")  $(ratio "$first_s" "$cps_s")  $cp2_s  $incr_s  $(ratio "$incr_s" "$cp2_s")  $(mib "$changed")  $(mib "$incr_space")  $(ratio "$incr_space" "$changed")  $(mib "$first_space")  $(mib "$cp_space")"
  if [ "$BS" != "$DEFAULT_BS" ]; then
    rm -rf "$VOL" "$STORE"
  fi
done

if [ -d "$WORK/vol-$DEFAULT_BS" ]; then
  VOL="$WORK/vol-$DEFAULT_BS" STORE="$WORK/store-$DEFAULT_BS"
  ID=$(python3 -c "import json; print(json.load(open('$WORK/incr-$DEFAULT_BS.json'))[0]['id'])")
  "$LB" vault init --vault "$WORK/vault" >/dev/null
  "$LB" backup "$VOL/disk.img" --vault "$WORK/vault" >/dev/null
  sync
  snaps=() vaults=()
  for rep in $(seq "$REPS"); do
    rm -rf "$WORK/from-snapshot.img" "$WORK/from-vault"
    sync
    # Both stores start from the page cache (packs are written with O_DIRECT and so are cold).
    warmdir "$STORE"
    warmdir "$WORK/vault"
    t0=$(now)
    "$LB" snapshot restore "$ID" --store "$STORE" --target "$WORK/from-snapshot.img" >/dev/null
    t1=$(now)
    snaps+=("$(secs "$t0" "$t1")")
    sync
    t0=$(now)
    "$LB" restore latest --vault "$WORK/vault" --target "$WORK/from-vault" >/dev/null
    t1=$(now)
    vaults+=("$(secs "$t0" "$t1")")
  done
  snap_s=$(minof "${snaps[@]}"); vault_s=$(minof "${vaults[@]}")
  cmp "$VOL/disk.img" "$WORK/from-snapshot.img"
  cmp "$VOL/disk.img" "$WORK/from-vault/disk.img"
  report ""
  report "restore ($DEFAULT_BS blocks, mutated image, both byte-identical to the source):"
  report "  from snapshot ${snap_s}s ($(mib "$(alloc "$WORK/from-snapshot.img")") MiB allocated)," \
         "from vault ${vault_s}s ($(mib "$(alloc "$WORK/from-vault/disk.img")") MiB allocated)," \
         "snapshot/vault $(ratio "$snap_s" "$vault_s")"
fi
echo
echo "Targets: first/cp <= 1, incr/cp2 <= 0.5, space/changed <= 1.2, snapshot/vault restore < 1."
