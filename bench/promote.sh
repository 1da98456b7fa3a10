#!/usr/bin/env bash
# Benchmark: promote a scratch database over live (backup-API copy beside live, quick_check, fsync,
# safety snapshot, rename). Data is generated at run time in a temporary folder (deleted at the
# end): live and scratch of ROWS rows (default 2,000,000) with a 200-byte payload each.
#
# Usage: bench/promote.sh     (LASTGOOD=path/to/lastgood to use another binary; ROWS=N)
set -euo pipefail
cd "$(dirname "$0")/.."
LASTGOOD=${LASTGOOD:-target/release/lastgood}
ROWS=${ROWS:-2000000}
[ -x "$LASTGOOD" ] || cargo build --release --quiet
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
for db in live scratch; do
  sqlite3 "$work/$db.db" "
    CREATE TABLE t(id INTEGER PRIMARY KEY, marker TEXT, payload BLOB);
    WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < $ROWS)
      INSERT INTO t SELECT x, '$db', randomblob(200) FROM c;"
done
echo "live $(du -h "$work/live.db" | cut -f1), scratch $(du -h "$work/scratch.db" | cut -f1), $ROWS rows each"
s=$(date +%s.%N)
/usr/bin/time -f "%M" -o "$work/rss" "$LASTGOOD" --quiet --json promote --scratch "$work/scratch.db" --live "$work/live.db" --yes > "$work/out.json"
e=$(date +%s.%N)
echo "promote --yes: $(echo "$e - $s" | bc) s wall, peak RSS $(( $(cat "$work/rss") / 1024 )) MB"
[ "$(sqlite3 "$work/live.db" "SELECT DISTINCT marker FROM t")" = scratch ] || { echo "live is not scratch"; exit 1; }
snap=$(python3 -c "import json,sys; print(json.load(open(sys.argv[1]))['snapshot'])" "$work/out.json")
[ "$(sqlite3 "$snap" "SELECT DISTINCT marker FROM t")" = live ] || { echo "snapshot is not the old live"; exit 1; }
echo "checked: live holds scratch's rows, the snapshot holds the old live's"
