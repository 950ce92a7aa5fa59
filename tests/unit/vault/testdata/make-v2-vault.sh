#!/usr/bin/env bash
# Regenerates v2-vault/: a vault written by a lifeboat of vault format version 2 (before chunk
# fingerprints), for DataPathVersionTest.AVaultWrittenByAVersion2LifeboatIsReadAndBackedUpInto.
#
#   tests/unit/vault/testdata/make-v2-vault.sh OLD_LIFEBOAT_BINARY
#
# The test rebuilds the same source tree (V2FixtureLines in data_path_test.cc), so keep the two
# in step. The vault was made with main at fcc1a8f (format 2).
set -euo pipefail
BIN="$1"
HERE="$(cd "$(dirname "$0")" && pwd)"
TMP="$(mktemp -d)"
trap 'rm -rf "$TMP"' EXIT
mkdir -p "$TMP/src/dir"
printf 'hello from a version 2 vault\n' > "$TMP/src/hello.txt"
python3 -c '
import sys
sys.stdout.write("".join("line %d: %d\n" % (i, i * i % 1000003) for i in range(5000)))
' > "$TMP/src/dir/lines.txt"
ln -s hello.txt "$TMP/src/link"
printf 'version 2 passphrase' > "$TMP/pass"
"$BIN" vault init --vault "$TMP/vault" --password-file "$TMP/pass" \
  --chunk-min 4K --chunk-avg 16K --chunk-max 64K
"$BIN" backup "$TMP/src" --vault "$TMP/vault" --password-file "$TMP/pass"
rm -rf "$TMP/vault/locks" "$HERE/v2-vault"
cp -r "$TMP/vault" "$HERE/v2-vault"
