#!/usr/bin/env bash
# Side-by-side benchmark: lifeboat vs restic vs borg on ../shared/bench/make-dataset.py data.
#
#   bench/vault/compare.sh [--scale F] [--work DIR] [--lifeboat BIN] [--seed N]
#
# Steps, each tool in turn on the same warm page cache: initial backup, incremental backup after
# one `mutate` day, full restore, single-file restore, check --read-data. Wall time and peak RSS
# come from /usr/bin/time; stored bytes from du on each repository. Ratios are peer / lifeboat
# (> 1 means lifeboat is faster or smaller). Absolute times are noisy on a shared machine: only
# ratios measured in one run mean anything.
set -euo pipefail

SCALE=0.25
WORK=/tmp/lifeboat-bench
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
    -h|--help) sed -n '2,12p' "$0"; exit 0 ;;
    *) echo "compare.sh: unknown argument $1" >&2; exit 2 ;;
  esac
done
[ -x "$LB" ] || { echo "compare.sh: lifeboat binary $LB not found (use --lifeboat)" >&2; exit 2; }
[ -f "$DATASET" ] || DATASET=/work/shared/bench/make-dataset.py
for tool in restic borg python3 /usr/bin/time; do
  command -v "$tool" >/dev/null || { echo "compare.sh: $tool is missing (make bench-deps)" >&2; exit 2; }
done

rm -rf "$WORK"
mkdir -p "$WORK"
trap 'rm -rf "$WORK"' EXIT
DATA="$WORK/data"
RESULTS="$WORK/results.tsv"
: > "$RESULTS"
export RESTIC_PASSWORD=bench-passphrase BORG_PASSPHRASE=bench-passphrase \
       LIFEBOAT_PASSWORD=bench-passphrase BORG_UNKNOWN_UNENCRYPTED_REPO_ACCESS_IS_OK=yes \
       BORG_RELOCATED_REPO_ACCESS_IS_OK=yes RESTIC_CACHE_DIR="$WORK/restic-cache" \
       BORG_BASE_DIR="$WORK/borg-base"

echo "== dataset: scale $SCALE seed $SEED in $DATA"
python3 "$DATASET" gen "$DATA" --seed "$SEED" --scale "$SCALE" >/dev/null
python3 "$DATASET" stats "$DATA" | sed 's/^/   /'

warm() { (cd "$DATA" && tar -cf - . | cat >/dev/null); }

# run TOOL STEP CMD...: time CMD, record wall seconds and peak RSS (KiB).
run() {
  local tool="$1" step="$2"; shift 2
  local out="$WORK/time.$tool.$step"
  if ! /usr/bin/time -f "%e %M" -o "$out" "$@" >"$WORK/log.$tool.$step" 2>&1; then
    echo "compare.sh: $tool $step failed:" >&2
    tail -5 "$WORK/log.$tool.$step" >&2
    exit 1
  fi
  read -r secs rss < <(tail -1 "$out")
  printf '%s\t%s\t%s\t%s\n' "$tool" "$step" "$secs" "$rss" >>"$RESULTS"
}
stored() { printf '%s\t%s\t%s\t0\n' "$1" "$2" "$(du -sb "$3" | cut -f1)" >>"$RESULTS"; }

LBV="$WORK/lifeboat-vault" RR="$WORK/restic-repo" BR="$WORK/borg-repo"
"$LB" vault init --vault "$LBV" >/dev/null
restic init --repository-version 2 -r "$RR" >/dev/null 2>&1
borg init -e repokey-blake2 "$BR" >/dev/null 2>&1

# A file that exists in both the initial and the mutated dataset, for the single-file restore.
ONE_REL="$(cd "$DATA" && find src -type f -size +4k | sort | sed -n '10p')"

echo "== initial backup"
warm
run lifeboat initial "$LB" backup "$DATA" --vault "$LBV"
warm
run restic initial restic -r "$RR" backup --compression auto "$DATA"
warm
run borg initial borg create "$BR::day0" "$DATA"
stored lifeboat stored-initial "$LBV"; stored restic stored-initial "$RR"; stored borg stored-initial "$BR"

echo "== mutate (day 1) and incremental backup"
python3 "$DATASET" mutate "$DATA" --seed "$SEED" --day 1 >/dev/null
warm
run lifeboat incremental "$LB" backup "$DATA" --vault "$LBV"
warm
run restic incremental restic -r "$RR" backup --compression auto "$DATA"
warm
run borg incremental borg create "$BR::day1" "$DATA"
stored lifeboat stored-total "$LBV"; stored restic stored-total "$RR"; stored borg stored-total "$BR"

echo "== full restore"
DIGEST="$(python3 "$DATASET" digest "$DATA" | cut -d' ' -f1)"
for tool in lifeboat restic borg; do
  rm -rf "$WORK/restore"; mkdir -p "$WORK/restore"; sync
  case $tool in
    lifeboat) run lifeboat restore "$LB" restore latest --target "$WORK/restore" --vault "$LBV" ;;
    restic) run restic restore restic -r "$RR" restore latest --target "$WORK/restore" ;;
    borg) run borg restore sh -c "cd '$WORK/restore' && borg extract '$BR::day1'" ;;
  esac
  got="$(python3 "$DATASET" digest "$(find "$WORK/restore" -type d -name data | head -1)" | cut -d' ' -f1)"
  [ "$got" = "$DIGEST" ] || { echo "compare.sh: $tool restored different bytes" >&2; exit 1; }
done
rm -rf "$WORK/restore"

echo "== single-file restore ($ONE_REL)"
for tool in lifeboat restic borg; do
  rm -rf "$WORK/one"; mkdir -p "$WORK/one"
  case $tool in
    lifeboat) run lifeboat single-file "$LB" restore latest "data/$ONE_REL" --target "$WORK/one" --vault "$LBV" ;;
    restic) run restic single-file restic -r "$RR" restore latest --target "$WORK/one" --include "$DATA/$ONE_REL" ;;
    borg) run borg single-file sh -c "cd '$WORK/one' && borg extract '$BR::day1' '${DATA#/}/$ONE_REL'" ;;
  esac
  cmp -s "$DATA/$ONE_REL" "$(find "$WORK/one" -type f | head -1)" ||
    { echo "compare.sh: $tool single-file restore differs" >&2; exit 1; }
done
rm -rf "$WORK/one"

echo "== check --read-data"
run lifeboat check-read-data "$LB" vault check --read-data --vault "$LBV"
run restic check-read-data restic -r "$RR" check --read-data
run borg check-read-data borg check --verify-data "$BR"

echo "== machine limits (one core each)"
openssl speed -seconds 1 -evp aes-256-gcm 2>/dev/null | tail -1 | sed 's/^/   /'
openssl speed -seconds 1 -evp sha256 2>/dev/null | tail -1 | sed 's/^/   /'
bytes="$(du -sb --apparent-size "$DATA" | cut -f1)"
start=$(date +%s.%N); warm; end=$(date +%s.%N)
echo "   read dataset from page cache (tar | cat): $(python3 -c "print(f'{$bytes/($end-$start)/1e9:.2f} GB/s')")"

echo
python3 - "$RESULTS" <<'PY'
import sys, collections
rows = collections.defaultdict(dict)
for line in open(sys.argv[1]):
    tool, step, value, rss = line.rstrip("\n").split("\t")
    rows[step][tool] = (float(value), int(rss))
def fmt(step, v):
    return f"{v/1e6:9.1f} MB" if step.startswith("stored") else f"{v:9.2f} s "
print(f"{'step':<16} {'lifeboat':>12} {'restic':>12} {'borg':>12} {'best peer/lb':>13} {'lb peak RSS':>12}")
for step in ["initial", "incremental", "restore", "single-file", "check-read-data",
             "stored-initial", "stored-total"]:
    r = rows.get(step, {})
    if "lifeboat" not in r: continue
    lb = r["lifeboat"][0]
    peers = [r[t][0] for t in ("restic", "borg") if t in r]
    best = min(peers) if peers else 0
    ratio = best / lb if lb > 0 else 0
    rss = f"{r['lifeboat'][1]/1024:8.0f} MiB" if not step.startswith("stored") else ""
    print(f"{step:<16} {fmt(step, lb):>12} " +
          " ".join(f"{fmt(step, r[t][0]) if t in r else '-':>12}" for t in ("restic", "borg")) +
          f" {ratio:12.2f}x {rss:>12}")
print()
print("peak RSS (MiB):", ", ".join(f"{t} {max(r[t][1] for s, r in rows.items() if t in r and not s.startswith('stored'))/1024:.0f}"
                                    for t in ("lifeboat", "restic", "borg")))
PY
