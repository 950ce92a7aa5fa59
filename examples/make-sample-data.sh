#!/usr/bin/env bash
# Creates the sample volumes the quickstart manifests protect:
#   /tmp/lifeboat-demo/volumes/app       a small tree of text files (config, logs, data)
#   /tmp/lifeboat-demo/volumes/db        a few "database" files
#   /tmp/lifeboat-demo/volumes/disk.img  a 64 MiB sparse disk image with a few written blocks
# Safe to run again: existing data is left alone, so backups see only what changed.
# LIFEBOAT_DEMO_DIR overrides /tmp/lifeboat-demo (the manifests name /tmp/lifeboat-demo).
set -euo pipefail

DEMO_DIR=${LIFEBOAT_DEMO_DIR:-/tmp/lifeboat-demo}
VOLUMES="$DEMO_DIR/volumes"
DISK_SIZE_MIB=64

write_if_missing() {  # write_if_missing FILE (content on stdin)
  local file=$1
  if [[ -e "$file" ]]; then
    cat > /dev/null
  else
    mkdir -p "$(dirname "$file")"
    cat > "$file"
  fi
}

make_app_tree() {
  local app="$VOLUMES/app"
  write_if_missing "$app/config/app.conf" <<'CONF'
# demo application configuration
listen = 0.0.0.0:8080
database = /tmp/lifeboat-demo/volumes/db
cache_size_mb = 64
CONF
  write_if_missing "$app/config/features.yaml" <<'CONF'
checkout: true
recommendations: false
CONF
  local i
  for i in 1 2 3; do
    write_if_missing "$app/logs/app-$i.log" < <(
      for line in $(seq 1 200); do echo "2026-01-0$i 12:00:$((line % 60)) INFO request $line served"; done)
  done
  for i in $(seq 1 20); do
    write_if_missing "$app/data/customer-$i.txt" <<<"customer $i: name=Customer $i, plan=standard"
  done
  write_if_missing "$app/README.txt" <<<"Sample application data for the Lifeboat quickstart."
}

make_db() {
  local db="$VOLUMES/db"
  write_if_missing "$db/schema.sql" <<'SQL'
CREATE TABLE customers (id INTEGER PRIMARY KEY, name TEXT, plan TEXT);
CREATE TABLE orders (id INTEGER PRIMARY KEY, customer INTEGER, total_cents INTEGER);
SQL
  write_if_missing "$db/data.sql" < <(
    for id in $(seq 1 500); do echo "INSERT INTO orders VALUES ($id, $((id % 20 + 1)), $((id * 137 % 10000)));"; done)
  write_if_missing "$db/wal/000001.log" <<<"checkpoint 1"
}

make_disk_image() {
  local img="$VOLUMES/disk.img"
  if [[ -e "$img" ]]; then
    return
  fi
  mkdir -p "$VOLUMES"
  truncate -s "${DISK_SIZE_MIB}M" "$img"                 # all holes: costs no space
  local offset_mib
  for offset_mib in 0 1 17 42; do                      # a few written 64 KiB regions
    head -c 65536 /dev/urandom | dd of="$img" bs=65536 seek=$((offset_mib * 16)) conv=notrunc status=none
  done
}

make_app_tree
make_db
make_disk_image
echo "Sample data under $VOLUMES:"
du -sh --apparent-size "$VOLUMES/app" "$VOLUMES/db" "$VOLUMES/disk.img" | sed 's/^/  apparent /'
du -sh "$VOLUMES/disk.img" | sed 's/^/  on disk  /'
