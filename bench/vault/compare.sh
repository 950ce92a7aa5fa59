#!/usr/bin/env bash
# Side-by-side benchmark: lifeboat vs restic vs borg on ../shared/bench/make-dataset.py data.
#
#   bench/vault/compare.sh [--scale F] [--work DIR] [--lifeboat BIN] [--seed N] [--runs N]
#                          [--baseline BIN]
#
# Steps, each tool in turn on the same warm page cache: initial backup, incremental backup after
# one `mutate` day, full restore, single-file restore, check --read-data. The order of the tools
# rotates from step to step and from run to run (step k of run n starts with tool number
# n-1+k of "lifeboat [lb-base] restic borg"), so no tool always goes first, when the machine is
# freshest, or always right after another tool (whose writeback or freed memory it would pay
# for); each step prints the order it used. Wall time and peak RSS
# come from /usr/bin/time; stored bytes from du on each repository. Ratios are peer / lifeboat
# (> 1 means lifeboat is faster or smaller). Absolute times are noisy on a shared machine: only
# ratios measured in one run mean anything. --runs N repeats everything N times on fresh copies
# of one generated dataset and prints each run's table, then the median ratio of each step.
# --baseline BIN runs a second lifeboat binary ("lb-base", e.g. the previous commit's) as one
# more tool in every run, so before/after ratios come from the same conditions.
set -euo pipefail

SCALE=0.25
WORK=/tmp/lifeboat-bench
SEED=1
RUNS=1
BASE=""
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
    --runs) RUNS="$2"; shift 2 ;;
    --baseline) BASE="$2"; shift 2 ;;
    -h|--help) sed -n '2,18p' "$0"; exit 0 ;;
    *) echo "compare.sh: unknown argument $1" >&2; exit 2 ;;
  esac
done
[ -x "$LB" ] || { echo "compare.sh: lifeboat binary $LB not found (use --lifeboat)" >&2; exit 2; }
[ -z "$BASE" ] || [ -x "$BASE" ] || { echo "compare.sh: baseline binary $BASE not found" >&2; exit 2; }
case "$RUNS" in ''|*[!0-9]*|0) echo "compare.sh: --runs must be a positive integer, got '$RUNS'" >&2; exit 2 ;; esac
[ -f "$DATASET" ] || DATASET=/work/shared/bench/make-dataset.py
for tool in restic borg python3 /usr/bin/time; do
  command -v "$tool" >/dev/null || { echo "compare.sh: $tool is missing (make bench-deps)" >&2; exit 2; }
done

rm -rf "$WORK"
mkdir -p "$WORK"
trap 'rm -rf "$WORK"' EXIT
DATA="$WORK/data"
ORIG="$WORK/data.orig"
ALL="$WORK/all.tsv"
: > "$ALL"
export RESTIC_PASSWORD=bench-passphrase BORG_PASSPHRASE=bench-passphrase \
       LIFEBOAT_PASSWORD=bench-passphrase BORG_UNKNOWN_UNENCRYPTED_REPO_ACCESS_IS_OK=yes \
       BORG_RELOCATED_REPO_ACCESS_IS_OK=yes RESTIC_CACHE_DIR="$WORK/restic-cache" \
       BORG_BASE_DIR="$WORK/borg-base"

echo "== dataset: scale $SCALE seed $SEED in $ORIG"
python3 "$DATASET" gen "$ORIG" --seed "$SEED" --scale "$SCALE" >/dev/null
python3 "$DATASET" stats "$ORIG" | sed 's/^/   /'
LBTOOLS="lifeboat"
[ -z "$BASE" ] || LBTOOLS="lifeboat lb-base"
ALLTOOLS="$LBTOOLS restic borg"
# rotated K: the tools of ALLTOOLS, starting with number K (mod their count).
rotated() {
  local -a t=($ALLTOOLS)
  local n=${#t[@]} i
  for ((i = 0; i < n; i++)); do printf '%s ' "${t[$(((i + $1) % n))]}"; done
}
# order STEP_NO: the tools' order for step STEP_NO (0-4) of run RUN_N, printed.
order() {
  ORDER="$(rotated $((RUN_N - 1 + $1)))"
  echo "   order: $ORDER"
}
bin_of() { if [ "$1" = lb-base ]; then echo "$BASE"; else echo "$LB"; fi; }

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

steps() {
RR="$WORK/restic-repo" BR="$WORK/borg-repo"
for t in $LBTOOLS; do "$(bin_of $t)" vault init --vault "$WORK/vault-$t" >/dev/null; done
restic init --repository-version 2 -r "$RR" >/dev/null 2>&1
borg init -e repokey-blake2 "$BR" >/dev/null 2>&1

# A file that exists in both the initial and the mutated dataset, for the single-file restore.
ONE_REL="$(cd "$DATA" && find src -type f -size +4k | sort | sed -n '10p')"

echo "== initial backup"
order 0
for t in $ORDER; do
  warm
  case $t in
    lifeboat|lb-base) run $t initial "$(bin_of $t)" backup "$DATA" --vault "$WORK/vault-$t" ;;
    restic) run restic initial restic -r "$RR" backup --compression auto "$DATA" ;;
    borg) run borg initial borg create "$BR::day0" "$DATA" ;;
  esac
done
for t in $LBTOOLS; do stored $t stored-initial "$WORK/vault-$t"; done
stored restic stored-initial "$RR"; stored borg stored-initial "$BR"

echo "== mutate (day 1) and incremental backup"
python3 "$DATASET" mutate "$DATA" --seed "$SEED" --day 1 >/dev/null
sync  # the mutation's ~250 MB of dirty pages would otherwise be written back during the first tool's run
order 1
for t in $ORDER; do
  warm
  case $t in
    lifeboat|lb-base) run $t incremental "$(bin_of $t)" backup "$DATA" --vault "$WORK/vault-$t" ;;
    restic) run restic incremental restic -r "$RR" backup --compression auto "$DATA" ;;
    borg) run borg incremental borg create "$BR::day1" "$DATA" ;;
  esac
done
for t in $LBTOOLS; do stored $t stored-total "$WORK/vault-$t"; done
stored restic stored-total "$RR"; stored borg stored-total "$BR"

echo "== full restore"
DIGEST="$(python3 "$DATASET" digest "$DATA" | cut -d' ' -f1)"
# Each tool restores into its own new directory, and none is deleted before all are done: on
# ext4 without a journal, creating files right after deleting ~20,000 others makes the inode
# allocator skip every recently deleted inode (recently_deleted() in the kernel), which cost a
# restore that followed another tool's deleted restore several times its CPU time. For the same
# reason the restore directories live under a "top directory" (chattr +T): each gets a block
# group of its own (Orlov allocator, started by a hash of its name, unique per run), not the
# group of $WORK where the previous run's data, vaults and restores were just deleted (that
# turned single restores of any tool into 10-20 s of kernel time, depending on which tool the
# inode allocator happened to hit).
mkdir -p "$WORK/restores"; chattr +T "$WORK/restores" 2>/dev/null || true
order 2
for tool in $ORDER; do
  out="$WORK/restores/$tool-$RUN_N"
  rm -rf "$out"; mkdir -p "$out"; sync
  case $tool in
    lifeboat|lb-base) run $tool restore "$(bin_of $tool)" restore latest --target "$out" --vault "$WORK/vault-$tool" ;;
    restic) run restic restore restic -r "$RR" restore latest --target "$out" ;;
    borg) run borg restore sh -c "cd '$out' && borg extract '$BR::day1'" ;;
  esac
  got="$(python3 "$DATASET" digest "$(find "$out" -type d -name data | head -1)" | cut -d' ' -f1)"
  [ "$got" = "$DIGEST" ] || { echo "compare.sh: $tool restored different bytes" >&2; exit 1; }
done
rm -rf "$WORK"/restores/*

echo "== single-file restore ($ONE_REL)"
order 3
for tool in $ORDER; do
  rm -rf "$WORK/one"; mkdir -p "$WORK/one"
  case $tool in
    lifeboat|lb-base) run $tool single-file "$(bin_of $tool)" restore latest "data/$ONE_REL" --target "$WORK/one" --vault "$WORK/vault-$tool" ;;
    restic) run restic single-file restic -r "$RR" restore latest --target "$WORK/one" --include "$DATA/$ONE_REL" ;;
    borg) run borg single-file sh -c "cd '$WORK/one' && borg extract '$BR::day1' '${DATA#/}/$ONE_REL'" ;;
  esac
  cmp -s "$DATA/$ONE_REL" "$(find "$WORK/one" -type f | head -1)" ||
    { echo "compare.sh: $tool single-file restore differs" >&2; exit 1; }
done
rm -rf "$WORK/one"

echo "== check --read-data"
order 4
for t in $ORDER; do
  case $t in
    lifeboat|lb-base) run $t check-read-data "$(bin_of $t)" vault check --read-data --vault "$WORK/vault-$t" ;;
    restic) run restic check-read-data restic -r "$RR" check --read-data ;;
    borg) run borg check-read-data borg check --verify-data "$BR" ;;
  esac
done

}

one_run() {
  local n="$1"
  RESULTS="$WORK/results.$n.tsv"
  : > "$RESULTS"
  rm -rf "$DATA" "$WORK"/vault-* "$WORK/restic-repo" "$WORK/borg-repo" "$WORK/restic-cache" "$WORK/borg-base"
  cp -a "$ORIG" "$DATA"
  sync  # else the copy's ~1.6 GB of dirty pages are written back during the first tool's backup
  RUN_N="$n"
  steps
  sed "s/^/$n\t/" "$RESULTS" >> "$ALL"
  echo "-- run $n of $RUNS"
  table "$RESULTS"
}

# table RESULTS: one run's figures. Ratio = faster of restic/borg divided by the lifeboat figure.
table() {
python3 - "$1" <<'PY'
import sys, collections
rows = collections.defaultdict(dict)
for line in open(sys.argv[1]):
    tool, step, value, rss = line.rstrip("\n").split("\t")
    rows[step][tool] = (float(value), int(rss))
lbs = [t for t in ("lifeboat", "lb-base") if any(t in r for r in rows.values())]
def fmt(step, v):
    return f"{v/1e6:9.1f} MB" if step.startswith("stored") else f"{v:9.2f} s "
print(f"{'step':<16} " + " ".join(f"{t:>12}" for t in lbs + ["restic", "borg"]) +
      " ".join(f" {'peer/' + t:>13}" for t in lbs) + f" {'lb peak RSS':>12}")
for step in ["initial", "incremental", "restore", "single-file", "check-read-data",
             "stored-initial", "stored-total"]:
    r = rows.get(step, {})
    if "lifeboat" not in r: continue
    peers = [r[t][0] for t in ("restic", "borg") if t in r]
    best = min(peers) if peers else 0
    ratios = " ".join(f" {best / r[t][0] if t in r and r[t][0] > 0 else 0:12.2f}x" for t in lbs)
    rss = f"{r['lifeboat'][1]/1024:8.0f} MiB" if not step.startswith("stored") else ""
    print(f"{step:<16} " + " ".join(f"{fmt(step, r[t][0]) if t in r else '-':>12}"
                                    for t in lbs + ["restic", "borg"]) + ratios + f" {rss:>12}")
print()
print("peak RSS (MiB):", ", ".join(
    f"{t} {max(r[t][1] for s, r in rows.items() if t in r and not s.startswith('stored'))/1024:.0f}"
    for t in lbs + ["restic", "borg"]))
PY
}

for n in $(seq 1 "$RUNS"); do
  echo "=== run $n of $RUNS"
  one_run "$n"
  echo
done

echo "== machine limits (one core each)"
openssl speed -seconds 1 -evp aes-256-gcm 2>/dev/null | tail -1 | sed 's/^/   /'
openssl speed -seconds 1 -evp sha256 2>/dev/null | tail -1 | sed 's/^/   /'
bytes="$(du -sb --apparent-size "$DATA" | cut -f1)"
start=$(date +%s.%N); warm; end=$(date +%s.%N)
echo "   read dataset from page cache (tar | cat): $(python3 -c "print(f'{$bytes/($end-$start)/1e9:.2f} GB/s')")"

if [ "$RUNS" -gt 1 ]; then
echo
echo "== median over $RUNS runs of each run's ratio (faster of restic/borg / lifeboat)"
python3 - "$ALL" <<'PY'
import sys, collections, statistics
runs = collections.defaultdict(lambda: collections.defaultdict(dict))
for line in open(sys.argv[1]):
    n, tool, step, value, rss = line.rstrip("\n").split("\t")
    runs[n][step][tool] = float(value)
lbs = [t for t in ("lifeboat", "lb-base") if any(t in r for run in runs.values() for r in run.values())]
print(f"{'step':<16} " + " ".join(f"{t:>28}" for t in lbs))
for step in ["initial", "incremental", "restore", "single-file", "check-read-data",
             "stored-initial", "stored-total"]:
    cells = []
    for t in lbs:
        ratios = []
        for run in runs.values():
            r = run.get(step, {})
            peers = [r[p] for p in ("restic", "borg") if p in r]
            if t in r and peers and r[t] > 0:
                ratios.append(min(peers) / r[t])
        cells.append(f"{statistics.median(ratios):6.2f}x ({', '.join(f'{x:.2f}' for x in ratios)})"
                     if ratios else "-")
    print(f"{step:<16} " + " ".join(f"{c:>28}" for c in cells))
PY
fi
