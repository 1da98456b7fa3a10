#!/usr/bin/env bash
# Benchmark: lastgood restore and catalog against the peer tools, in the same run.
#
#   bash bench/restore.sh            # 1,000,000 orders, 1,000 small backups, 5 runs each
#   ROWS=200000 RUNS=5 bash bench/restore.sh
#
# Builds the release binary, generates its data in a temp dir (deleted at the end; nothing is
# committed), and prints the median of RUNS runs for each pair:
#   1. one-table restore: `lastgood restore --tables orders` vs `sqlite3` ATTACH + CREATE (the
#      table and its index, as the backup has them) + `INSERT INTO orders SELECT * FROM src.orders`
#      into a fresh file (target: ≤ 1.0×);
#   2. whole restore: `lastgood restore` (copy, quick_check, fsync) vs `cp` (target: ≤ 1.3×);
#   3. `lastgood catalog` of 1,000 unchanged backup files, cache warm (target: ≤ 1 s).
set -euo pipefail
cd "$(dirname "$0")/.."

ROWS=${ROWS:-1000000}
RUNS=${RUNS:-5}
FILES=${FILES:-1000}

command -v sqlite3 >/dev/null || { echo "bench: needs sqlite3 (apt-get install sqlite3)" >&2; exit 4; }
cargo build --release --quiet
LG="$PWD/target/release/lastgood"

WORK=$(mktemp -d "${TMPDIR:-/tmp}/lastgood-bench.XXXXXX")
trap 'rm -rf "$WORK"' EXIT
mkdir -p "$WORK/repo" "$WORK/many" "$WORK/out"

# --- data -----------------------------------------------------------------------------------
echo "generating $ROWS orders ..."
sqlite3 "$WORK/live.db" <<SQL
CREATE TABLE customers(id INTEGER PRIMARY KEY, name TEXT NOT NULL);
CREATE TABLE orders(id INTEGER PRIMARY KEY, customer_id INTEGER NOT NULL, item TEXT, amount REAL,
                    placed_at TEXT NOT NULL);
CREATE INDEX orders_customer ON orders(customer_id);
WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 1000)
  INSERT INTO customers SELECT x, 'customer ' || x FROM c;
WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < $ROWS)
  INSERT INTO orders SELECT x, abs(random()) % 1000 + 1, 'item ' || (x % 5000), (x % 10000) / 100.0,
                            datetime(1700000000 + x * 7, 'unixepoch') FROM c;
SQL
BACKUP="$WORK/repo/shop-2026-11-24T06-00-00.db"
sqlite3 "$WORK/live.db" ".backup '$BACKUP'"
SCHEMA=$(sqlite3 "$BACKUP" "SELECT group_concat(sql, '; ') FROM sqlite_schema WHERE tbl_name = 'orders'")
SIZE=$(stat -c %s "$BACKUP")
echo "backup: $BACKUP ($((SIZE / 1000000)) MB)"

echo "generating $FILES small backups ..."
sqlite3 "$WORK/small.db" "CREATE TABLE t(id INTEGER PRIMARY KEY, v TEXT); INSERT INTO t(v) VALUES ('a'), ('b');"
for i in $(seq 1 "$FILES"); do
  cp "$WORK/small.db" "$WORK/many/small-$(printf '%04d' "$i").db"
  # Distinct content per file, so that each is its own backup.
  printf '%08d' "$i" | dd of="$WORK/many/small-$(printf '%04d' "$i").db" bs=1 seek=60 conv=notrunc status=none
done

# --- timing ---------------------------------------------------------------------------------
# median_of CMD...: runs `prepare` (if defined) untimed, then CMD, RUNS times; prints the median
# wall time in seconds.
median_of() {
  local times=()
  for _ in $(seq 1 "$RUNS"); do
    prepare
    local t0 t1
    t0=$(date +%s.%N)
    "$@" >/dev/null
    t1=$(date +%s.%N)
    times+=("$(echo "$t1 - $t0" | bc -l)")
  done
  printf '%s\n' "${times[@]}" | sort -n | sed -n "$(((RUNS + 1) / 2))p"
}

ratio() { echo "scale=2; $1 / $2" | bc -l; }
fmt() { printf '%.3f' "$1"; }

# Warm the page cache and lastgood's catalog cache once, untimed.
cat "$BACKUP" >/dev/null
"$LG" --quiet catalog --repo "$WORK/repo" >/dev/null
"$LG" --quiet catalog --repo "$WORK/many" >/dev/null

prepare() { rm -f "$WORK/out/"*.db; }

peer_one_table() {
  sqlite3 "$WORK/out/peer.db" "ATTACH '$BACKUP' AS src; $SCHEMA; INSERT INTO orders SELECT * FROM src.orders;"
}
ours_one_table() {
  "$LG" --quiet restore --repo "$WORK/repo" --backup latest --tables orders --into "$WORK/out/ours.db"
}
peer_whole() { cp "$BACKUP" "$WORK/out/peer.db"; }
# For context: what a durable, checked copy costs with the plain tools.
peer_whole_sync() { cp "$BACKUP" "$WORK/out/peer.db" && sync "$WORK/out/peer.db"; }
peer_whole_checked() {
  cp "$BACKUP" "$WORK/out/peer.db" && sync "$WORK/out/peer.db" && sqlite3 "$WORK/out/peer.db" "PRAGMA quick_check"
}
ours_whole() { "$LG" --quiet restore --repo "$WORK/repo" --backup latest --into "$WORK/out/ours.db"; }
ours_catalog() { "$LG" --quiet catalog --repo "$WORK/many"; }

echo "timing (median of $RUNS runs) ..."
p1=$(median_of peer_one_table); o1=$(median_of ours_one_table)
# Both sides must have produced the same rows.
prepare
peer_one_table
ours_one_table >/dev/null
[ "$(sqlite3 "$WORK/out/peer.db" 'SELECT count(*), sum(customer_id) FROM orders')" = \
  "$(sqlite3 "$WORK/out/ours.db" 'SELECT count(*), sum(customer_id) FROM orders')" ] || {
  echo "bench: one-table restores differ" >&2; exit 1; }
p2=$(median_of peer_whole); o2=$(median_of ours_whole)
p2s=$(median_of peer_whole_sync); p2c=$(median_of peer_whole_checked)
prepare() { :; }
o3=$(median_of ours_catalog)

echo
printf '%-44s %10s %10s %8s %s\n' "benchmark ($ROWS orders, $((SIZE / 1000000)) MB)" "lastgood" "peer" "ratio" "target"
printf '%-44s %9ss %9ss %7sx %s\n' "one-table restore vs sqlite3 ATTACH+INSERT" "$(fmt "$o1")" "$(fmt "$p1")" "$(ratio "$o1" "$p1")" "<= 1.0x"
printf '%-44s %9ss %9ss %7sx %s\n' "whole restore vs cp" "$(fmt "$o2")" "$(fmt "$p2")" "$(ratio "$o2" "$p2")" "<= 1.3x"
printf '%-44s %9ss %9ss %7sx %s\n' "  (context) whole restore vs cp + sync" "$(fmt "$o2")" "$(fmt "$p2s")" "$(ratio "$o2" "$p2s")" ""
printf '%-44s %9ss %9ss %7sx %s\n' "  (context) vs cp + sync + sqlite3 quick_check" "$(fmt "$o2")" "$(fmt "$p2c")" "$(ratio "$o2" "$p2c")" ""
printf '%-44s %9ss %10s %8s %s\n' "catalog of $FILES unchanged backups" "$(fmt "$o3")" "-" "-" "<= 1 s"
