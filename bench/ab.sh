#!/usr/bin/env bash
# Before/after benchmark: two lastgood binaries on the same data, interleaved run by run (A, B,
# A, B, …), so that the machine's drift (±30% here) hits both alike. Reports the median of RUNS
# runs of each and the ratio B/A, for the hot paths the other benchmarks time against their peers:
#   SQLite (1M-row orders, 62 MB): restore --tables orders, whole restore, catalog of 1,000
#     unchanged backups (cache warm), diff of 1M rows with 1% changed, merge --apply of 10,000 rows;
#   PostgreSQL (pgbench scale SCALE): restore --tables pgbench_accounts, diff with 1% changed.
#
#   bash bench/ab.sh OLD_BINARY NEW_BINARY [RUNS]      (RUNS default 5; SCALE=20 ROWS=1000000)
#   PG=0 bash bench/ab.sh …                           (SQLite only)
#
# Each binary gets its own copy of every repository, so that their catalog caches (whose layout
# may differ between versions) never invalidate each other. Data is generated at run time in a
# temporary folder, removed at the end.
set -euo pipefail

A=$(realpath "${1:?usage: bench/ab.sh OLD_BINARY NEW_BINARY [RUNS]}")
B=$(realpath "${2:?usage: bench/ab.sh OLD_BINARY NEW_BINARY [RUNS]}")
RUNS=${3:-5}
ROWS=${ROWS:-1000000}
SCALE=${SCALE:-20}
FILES=${FILES:-1000}
command -v sqlite3 >/dev/null || { echo "bench: needs sqlite3" >&2; exit 4; }

NAME=ab
if [[ ${PG:-1} == 1 ]]; then
    LASTGOOD=$B
    # shellcheck source=bench/pgcluster.sh
    source "$(dirname "$0")/pgcluster.sh"
else
    WORK=$(mktemp -d "/tmp/lastgood-bench-$NAME.XXXXXX")
    trap 'rm -rf "$WORK"' EXIT
fi
S=$WORK/sqlite
mkdir -p "$S/out"

now() { date +%s.%N; }
median() { sort -g | awk '{a[NR]=$1} END {print (NR % 2) ? a[(NR+1)/2] : (a[NR/2] + a[NR/2+1]) / 2}'; }
# timed FILE CMD...: runs CMD (exit 0 or 1 accepted: diff exits 1 when it finds changes), appends
# its wall seconds to FILE.
timed() {
    local file=$1; shift
    local t0 t1 rc=0
    t0=$(now)
    "$@" >/dev/null 2>"$WORK/err" || rc=$?
    t1=$(now)
    [[ $rc -le 1 ]] || { echo "bench: $* failed ($rc): $(cat "$WORK/err")" >&2; exit 1; }
    echo "$t1 - $t0" | bc >> "$file"
}

echo "generating SQLite data ($ROWS orders; $FILES small backups; a 1M-row diff pair) ..." >&2
sqlite3 "$S/live.db" <<SQL
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
sqlite3 "$S/small.db" "CREATE TABLE t(id INTEGER PRIMARY KEY, v TEXT); INSERT INTO t(v) VALUES ('a'), ('b');"
for who in a b; do
    mkdir -p "$S/repo-$who" "$S/many-$who"
    sqlite3 "$S/live.db" ".backup '$S/repo-$who/shop-2026-11-24T06-00-00.db'"
    for i in $(seq 1 "$FILES"); do
        f="$S/many-$who/small-$(printf '%04d' "$i").db"
        cp "$S/small.db" "$f"
        printf '%08d' "$i" | dd of="$f" bs=1 seek=60 conv=notrunc status=none
    done
done
sqlite3 "$S/scratch.db" "
  PRAGMA journal_mode = OFF; PRAGMA synchronous = OFF;
  CREATE TABLE t(id INTEGER PRIMARY KEY, name TEXT, amount REAL, qty INTEGER, note BLOB);
  WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < $ROWS)
  INSERT INTO t SELECT x, 'customer ' || (x * 7919 % 100003), x * 0.25, x % 1000,
                       CASE WHEN x % 5 = 0 THEN NULL ELSE zeroblob(8) END FROM c;" >/dev/null
cp "$S/scratch.db" "$S/live-diff.db"
sqlite3 "$S/live-diff.db" "
  UPDATE t SET amount = amount + 1, name = name || '!' WHERE id % 100 = 7;
  DELETE FROM t WHERE id % 100000 = 3;
  INSERT INTO t(name, amount, qty) SELECT 'late', 1.5, 1 FROM t WHERE id % 100000 = 11;"
for who in a b; do
    bin=$A; [[ $who == b ]] && bin=$B
    "$bin" --quiet catalog --repo "$S/repo-$who" >/dev/null
    "$bin" --quiet catalog --repo "$S/many-$who" >/dev/null
done

run_sqlite() {  # run_sqlite a|b BINARY
    local who=$1 bin=$2
    rm -f "$S/out/"*
    timed "$WORK/one.$who" "$bin" --quiet restore --repo "$S/repo-$who" --backup latest --tables orders --into "$S/out/one.db"
    rm -f "$S/out/"*
    timed "$WORK/whole.$who" "$bin" --quiet restore --repo "$S/repo-$who" --backup latest --into "$S/out/whole.db"
    timed "$WORK/catalog.$who" "$bin" --quiet catalog --repo "$S/many-$who"
    timed "$WORK/diff.$who" "$bin" --quiet diff --scratch "$S/scratch.db" --live "$S/live-diff.db" --tables t
    cp "$S/live-diff.db" "$S/out/live-merge.db"
    timed "$WORK/merge.$who" "$bin" --quiet merge --scratch "$S/scratch.db" --live "$S/out/live-merge.db" --tables t \
        --restore updated --apply
    rm -rf "$S/out/lastgood-snapshots" "$S/out/"*.lastgood-snapshot-* 2>/dev/null || true
}

if [[ ${PG:-1} == 1 ]]; then
    echo "generating PostgreSQL data (pgbench -i -s $SCALE) ..." >&2
    "$BIN/createdb" shop
    "$BIN/pgbench" -i -s "$SCALE" -q shop 2>/dev/null
    for who in a b; do
        mkdir -p "$WORK/pgrepo-$who"; chmod 777 "$WORK/pgrepo-$who"
        "$BIN/pg_dump" -Fc -f "$WORK/pgrepo-$who/shop.dump" shop
    done
    "$BIN/createdb" -T shop scratch
    "$BIN/psql" -qc "UPDATE pgbench_accounts SET abalance = abalance + 1 WHERE aid % 100 = 0" shop
    "$BIN/psql" -qc "VACUUM ANALYZE pgbench_accounts" shop
    "$A" --quiet catalog --repo "$WORK/pgrepo-a" >/dev/null
    "$B" --quiet catalog --repo "$WORK/pgrepo-b" >/dev/null
fi
LIVE="postgres://postgres@127.0.0.1:${PORT:-0}/shop"
run_pg() {  # run_pg a|b BINARY RUN
    local who=$1 bin=$2 i=$3
    "$BIN/psql" -qc CHECKPOINT postgres
    timed "$WORK/pgone.$who" "$bin" --quiet restore --repo "$WORK/pgrepo-$who" --backup latest --live "$LIVE" \
        --tables pgbench_accounts --into "ab_${who}_$i"
    "$BIN/dropdb" "ab_${who}_$i"
    "$BIN/psql" -qc CHECKPOINT postgres
    timed "$WORK/pgdiff.$who" "$bin" --quiet diff --scratch "postgres://postgres@127.0.0.1:$PORT/scratch" --live "$LIVE" \
        --tables pgbench_accounts
}

echo "timing: $RUNS runs each, A and B interleaved (load $(cut -d' ' -f1-3 /proc/loadavg)) ..." >&2
for i in $(seq 1 "$RUNS"); do
    # Alternate which goes first, so neither always runs on a warmer cache.
    if (( i % 2 )); then order="a b"; else order="b a"; fi
    for who in $order; do
        bin=$A; [[ $who == b ]] && bin=$B
        run_sqlite "$who" "$bin"
        [[ ${PG:-1} == 1 ]] && run_pg "$who" "$bin" "$i"
    done
done

echo "A = $A"
echo "B = $B"
printf '%-48s %9s %9s %7s\n' "median of $RUNS (seconds)" "A" "B" "B/A"
row() {
    local label=$1 key=$2
    [[ -s $WORK/$key.a ]] || return 0
    local a b
    a=$(median < "$WORK/$key.a"); b=$(median < "$WORK/$key.b")
    printf '%-48s %9.3f %9.3f %6.2fx\n' "$label" "$a" "$b" "$(echo "$b / $a" | bc -l)"
}
row "SQLite restore --tables orders ($ROWS rows)" one
row "SQLite whole restore" whole
row "catalog of $FILES unchanged backups" catalog
row "SQLite diff, $ROWS rows, 1% changed" diff
row "SQLite merge --apply of 1% updated rows" merge
row "PostgreSQL restore --tables pgbench_accounts" pgone
row "PostgreSQL diff pgbench_accounts, 1% changed" pgdiff
