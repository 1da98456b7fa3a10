#!/usr/bin/env bash
# Benchmark of `lastgood diff` and `lastgood merge --apply` against SQLite's `sqldiff`.
#
#   bash bench/diff.sh            # 1M rows (diff vs sqldiff, RSS), 10M rows (RSS), merge of 10k rows
#   ROWS_BIG=0 bash bench/diff.sh # skip the 10M-row run
#
# Data is generated at run time into a temporary folder (removed at the end): a table
# t(id INTEGER PRIMARY KEY, name TEXT, amount REAL, qty INTEGER, note BLOB) in scratch, and live =
# scratch with 1% of the rows updated (plus a few inserts and deletes). Times are wall-clock
# seconds from /usr/bin/time; each diff runs RUNS times (default 3) and every run is printed.
set -euo pipefail

ROWS=${ROWS:-1000000}
ROWS_BIG=${ROWS_BIG:-10000000}
RUNS=${RUNS:-3}
HERE=$(cd "$(dirname "$0")/.." && pwd)
BIN=${LASTGOOD:-$HERE/target/release/lastgood}
TMP=$(mktemp -d "${TMPDIR:-/tmp}/lastgood-bench.XXXXXX")
trap 'rm -rf "$TMP"' EXIT

command -v sqldiff >/dev/null || { echo "sqldiff missing (apt-get install sqlite3-tools)"; exit 4; }
[ -x /usr/bin/time ] || { echo "/usr/bin/time missing (apt-get install time)"; exit 4; }
if [ -z "${LASTGOOD:-}" ]; then (cd "$HERE" && cargo build --release --quiet); fi

# make_pair ROWS DIR: DIR/scratch.db and DIR/live.db (1% of rows updated).
make_pair() {
  local n=$1 dir=$2
  mkdir -p "$dir"
  sqlite3 "$dir/scratch.db" "
    PRAGMA journal_mode = OFF; PRAGMA synchronous = OFF;
    CREATE TABLE t(id INTEGER PRIMARY KEY, name TEXT, amount REAL, qty INTEGER, note BLOB);
    WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < $n)
    INSERT INTO t SELECT x, 'customer ' || (x * 7919 % 100003), x * 0.25, x % 1000, CASE WHEN x % 5 = 0 THEN NULL ELSE zeroblob(8) END FROM c;" >/dev/null
  cp "$dir/scratch.db" "$dir/live.db"
  sqlite3 "$dir/live.db" "
    UPDATE t SET amount = amount + 1, name = name || '!' WHERE id % 100 = 7;
    DELETE FROM t WHERE id % 100000 = 3;
    INSERT INTO t(name, amount, qty) SELECT 'late', 1.5, 1 FROM t WHERE id % 100000 = 11;"
}

# measure LABEL CMD...: prints wall seconds, CPU seconds (user + system: on a shared machine the
# fairer figure) and peak RSS (MB) of one run.
measure() {
  local label=$1; shift
  /usr/bin/time -f "%e %U %S %M" -o "$TMP/time" "$@" >/dev/null 2>"$TMP/err" || {
    local rc=$?; [ $rc -le 1 ] || { cat "$TMP/err"; exit $rc; }; }
  read -r secs user sys kb < <(tail -n 1 "$TMP/time")
  printf '%-44s %7.2f s wall %6.2f s cpu %8.1f MB\n' "$label" "$secs" "$(echo "$user + $sys" | bc -l)" \
    "$(echo "$kb / 1024" | bc -l)"
}

echo "load average: $(cut -d' ' -f1-3 /proc/loadavg) on $(nproc) cores"
echo "== diff, $ROWS rows, 1% changed (lastgood: $BIN; $(sqlite3 --version | cut -d' ' -f1) sqldiff)"
make_pair "$ROWS" "$TMP/m"
for i in $(seq "$RUNS"); do
  measure "lastgood diff (summary)   run $i" "$BIN" -q diff --scratch "$TMP/m/scratch.db" --live "$TMP/m/live.db" --tables t
  measure "lastgood diff --sql       run $i" "$BIN" -q diff --sql --scratch "$TMP/m/scratch.db" --live "$TMP/m/live.db" --tables t
  measure "sqldiff --table t         run $i" sqldiff --table t "$TMP/m/live.db" "$TMP/m/scratch.db"
done
"$BIN" -q diff --scratch "$TMP/m/scratch.db" --live "$TMP/m/live.db" --tables t | tail -3 || true

if [ "$ROWS_BIG" != 0 ]; then
  echo "== diff, $ROWS_BIG rows, 1% changed: peak RSS"
  make_pair "$ROWS_BIG" "$TMP/b"
  measure "lastgood diff (summary)" "$BIN" -q diff --scratch "$TMP/b/scratch.db" --live "$TMP/b/live.db" --tables t
  measure "lastgood diff --json (all changes)" "$BIN" -q --json diff --scratch "$TMP/b/scratch.db" --live "$TMP/b/live.db" --tables t
  rm -rf "$TMP/b"
fi

echo "== merge --apply of 10,000 changed rows (in a $ROWS-row table)"
cp "$TMP/m/live.db" "$TMP/m/live-merge.db"
# Exactly 10,000 updated rows: 1% of 1M rows are updated above.
measure "lastgood merge --restore updated --apply" "$BIN" -q merge --scratch "$TMP/m/scratch.db" --live "$TMP/m/live-merge.db" --tables t --restore updated --apply
"$BIN" -q diff --scratch "$TMP/m/scratch.db" --live "$TMP/m/live-merge.db" --tables t --kinds updated >/dev/null \
  && echo "after the merge: no updated rows remain" || echo "after the merge: updated rows remain (unexpected)"
