#!/usr/bin/env bash
# Benchmark of `lastgood diff` against SQLite's `sqldiff --table` on a realistic shop table
# (issue 12): 8 columns (integers, REAL prices, TEXT status, dates and notes), 1% of rows changed.
#
#   bash bench/shopdiff.sh                      # 1M rows, 5 interleaved runs of each, medians
#   ROWS=200000 RUNS=7 LASTGOOD=path/to/lastgood bash bench/shopdiff.sh
#
# Data, generated at run time into a temporary folder (removed at the end): scratch =
# orders(id INTEGER PRIMARY KEY, customer TEXT, sku TEXT, qty INTEGER, price REAL, status TEXT,
# created TEXT, note TEXT) with ROWS rows (about 120 MB at 1M); live = scratch with 1% of the rows
# changed: 0.98% updated (status, price, sometimes the note), 0.01% deleted, as many inserted.
# The peers run one after the other in the same loop (interleaved), each printing every change to
# /dev/null: `lastgood diff --json` (JSON Lines, every change with both rows), `lastgood diff
# --sql` (the patch) and `sqldiff --table orders live scratch` (its patch). Times are wall-clock
# seconds from /usr/bin/time and every run is printed; the machine is shared, so the medians and
# their ratios are the figures to read (target: sqldiff / lastgood diff >= 2).
set -euo pipefail

ROWS=${ROWS:-1000000}
RUNS=${RUNS:-5}
HERE=$(cd "$(dirname "$0")/.." && pwd)
BIN=${LASTGOOD:-$HERE/target/release/lastgood}
TMP=$(mktemp -d "${TMPDIR:-/tmp}/lastgood-bench.XXXXXX")
trap 'rm -rf "$TMP"' EXIT

command -v sqldiff >/dev/null || { echo "sqldiff missing (apt-get install sqlite3-tools)"; exit 4; }
[ -x /usr/bin/time ] || { echo "/usr/bin/time missing (apt-get install time)"; exit 4; }
command -v bc >/dev/null || { echo "bc missing (apt-get install bc)"; exit 4; }
if [ -z "${LASTGOOD:-}" ]; then (cd "$HERE" && cargo build --release --quiet); fi

# make_pair ROWS DIR: DIR/scratch.db and DIR/live.db.
make_pair() {
  local n=$1 dir=$2
  mkdir -p "$dir"
  sqlite3 "$dir/scratch.db" "
    PRAGMA journal_mode = OFF; PRAGMA synchronous = OFF;
    CREATE TABLE orders(id INTEGER PRIMARY KEY, customer TEXT, sku TEXT, qty INTEGER, price REAL,
      status TEXT, created TEXT, note TEXT);
    WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < $n)
    INSERT INTO orders SELECT x,
      'customer ' || (x * 7919 % 100003),
      printf('SKU-%06d', x * 104729 % 250000),
      1 + x % 7,
      round((x * 37 % 20000) / 100.0 + 0.99, 2),
      CASE x % 4 WHEN 0 THEN 'paid' WHEN 1 THEN 'open' WHEN 2 THEN 'shipped' ELSE 'delivered' END,
      strftime('%Y-%m-%d %H:%M:%S', 1600000000 + x * 97, 'unixepoch'),
      CASE WHEN x % 3 = 0 THEN NULL
        ELSE 'deliver to the back door, ring twice; order ' || x || ' of customer ' || (x * 7919 % 100003) END
    FROM c;" >/dev/null
  cp "$dir/scratch.db" "$dir/live.db"
  sqlite3 "$dir/live.db" "
    UPDATE orders SET status = 'refunded', price = round(price * 0.9, 2) WHERE id % 100 = 7;
    UPDATE orders SET note = 'address changed' WHERE id % 100 = 7 AND id % 300 = 7;
    DELETE FROM orders WHERE id % 10000 = 3;
    INSERT INTO orders(customer, sku, qty, price, status, created, note)
      SELECT 'customer new', 'SKU-999999', 1, 9.99, 'open', '2031-01-01 00:00:00', NULL
      FROM orders WHERE id % 10000 = 11;"
}

# measure LABEL CMD...: runs CMD once (exit 0 or 1 accepted), prints wall seconds, CPU seconds
# and peak RSS (MB), and appends the wall seconds to $TMP/LABEL.times.
measure() {
  local label=$1; shift
  /usr/bin/time -f "%e %U %S %M" -o "$TMP/time" "$@" >/dev/null 2>"$TMP/err" || {
    local rc=$?; [ $rc -le 1 ] || { cat "$TMP/err"; exit $rc; }; }
  read -r secs user sys kb < <(tail -n 1 "$TMP/time")
  printf '%-32s run %-2s %7.2f s wall %6.2f s cpu %8.1f MB\n' "$label" "$i" "$secs" \
    "$(echo "$user + $sys" | bc -l)" "$(echo "$kb / 1024" | bc -l)"
  echo "$secs" >>"$TMP/$label.times"
}

median() { sort -n "$TMP/$1.times" | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }

echo "load average: $(cut -d' ' -f1-3 /proc/loadavg) on $(nproc) cores; lastgood: $BIN; $(sqlite3 --version | cut -d' ' -f1) sqldiff"
D=$TMP/m
make_pair "$ROWS" "$D"
echo "== orders: $ROWS rows, $(( $(stat -c %s "$D/scratch.db") / 1048576 )) MB; 1% changed; $RUNS interleaved runs of each"
for i in $(seq "$RUNS"); do
  measure "lastgood diff --json" "$BIN" -q --json diff --scratch "$D/scratch.db" --live "$D/live.db" --tables orders
  measure "lastgood diff --sql" "$BIN" -q diff --sql --scratch "$D/scratch.db" --live "$D/live.db" --tables orders
  measure "sqldiff --table orders" sqldiff --table orders "$D/live.db" "$D/scratch.db"
done
"$BIN" -q diff --scratch "$D/scratch.db" --live "$D/live.db" --tables orders | tail -n 3 || true

json=$(median "lastgood diff --json"); sql=$(median "lastgood diff --sql"); theirs=$(median "sqldiff --table orders")
echo "== medians of $RUNS"
printf '%-32s %7.2f s   sqldiff is %.2fx slower (target >= 2x)\n' "lastgood diff --json" "$json" "$(echo "$theirs / $json" | bc -l)"
printf '%-32s %7.2f s   sqldiff is %.2fx slower\n' "lastgood diff --sql" "$sql" "$(echo "$theirs / $sql" | bc -l)"
printf '%-32s %7.2f s\n' "sqldiff --table orders" "$theirs"
