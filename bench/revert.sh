#!/usr/bin/env bash
# Benchmark of `lastgood revert` against its same-run peers (issue 12):
#   - the plan (dry run) against `lastgood diff` of base vs live;
#   - `revert --apply` against `lastgood diff` + `lastgood merge --apply` of the same rows;
#   - peak RSS of both at ROWS rows (and ROWS_BIG rows when set).
#
#   bash bench/revert.sh                  # 1M rows, 5 interleaved runs of each, medians
#   ROWS_BIG=10000000 bash bench/revert.sh # also peak RSS at 10M rows
#   RUNS=7 LASTGOOD=path/to/lastgood bash bench/revert.sh
#
# Data, generated at run time into a temporary folder (removed at the end): base =
# t(id INTEGER PRIMARY KEY, name TEXT, amount REAL, qty INTEGER, status TEXT, note BLOB) with ROWS
# rows; damaged = base with 1% of the rows damaged (amount 0, status 'void'); live = damaged plus
# later writes: 0.1% of the rows re-priced (conflicts, all on damaged rows), a few inserts. The
# peers run in the same loop, one after the other (interleaved), on fresh copies of live where
# they write; times are wall-clock seconds from /usr/bin/time, and every run is printed. The
# machine is shared: the medians and the ratios are the figures to read.
set -euo pipefail

ROWS=${ROWS:-1000000}
ROWS_BIG=${ROWS_BIG:-0}
RUNS=${RUNS:-5}
HERE=$(cd "$(dirname "$0")/.." && pwd)
BIN=${LASTGOOD:-$HERE/target/release/lastgood}
TMP=$(mktemp -d "${TMPDIR:-/tmp}/lastgood-bench.XXXXXX")
trap 'rm -rf "$TMP"' EXIT

[ -x /usr/bin/time ] || { echo "/usr/bin/time missing (apt-get install time)"; exit 4; }
command -v bc >/dev/null || { echo "bc missing (apt-get install bc)"; exit 4; }
if [ -z "${LASTGOOD:-}" ]; then (cd "$HERE" && cargo build --release --quiet); fi

# make_three ROWS DIR: DIR/base.db, DIR/damaged.db, DIR/live.db.
make_three() {
  local n=$1 dir=$2
  mkdir -p "$dir"
  sqlite3 "$dir/base.db" "
    PRAGMA journal_mode = OFF; PRAGMA synchronous = OFF;
    CREATE TABLE t(id INTEGER PRIMARY KEY, name TEXT, amount REAL, qty INTEGER, status TEXT, note BLOB);
    WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < $n)
    INSERT INTO t SELECT x, 'customer ' || (x * 7919 % 100003), x * 0.25, x % 1000,
      CASE x % 3 WHEN 0 THEN 'paid' WHEN 1 THEN 'open' ELSE 'shipped' END,
      CASE WHEN x % 5 = 0 THEN NULL ELSE zeroblob(8) END FROM c;" >/dev/null
  cp "$dir/base.db" "$dir/damaged.db"
  sqlite3 "$dir/damaged.db" "UPDATE t SET amount = 0, status = 'void' WHERE id % 100 = 7;"
  cp "$dir/damaged.db" "$dir/live.db"
  sqlite3 "$dir/live.db" "
    UPDATE t SET amount = 9.99 WHERE id % 1000 = 7;
    INSERT INTO t(name, amount, qty, status) SELECT 'late', 1.5, 1, 'open' FROM t WHERE id % 100000 = 11;"
}

# measure LABEL CMD...: runs CMD once (exit 0 or 1 accepted), prints wall seconds, CPU seconds
# and peak RSS (MB), and appends the wall seconds to $TMP/LABEL.
measure() {
  local label=$1; shift
  /usr/bin/time -f "%e %U %S %M" -o "$TMP/time" "$@" >/dev/null 2>"$TMP/err" || {
    local rc=$?; [ $rc -le 1 ] || { cat "$TMP/err"; exit $rc; }; }
  read -r secs user sys kb < <(tail -n 1 "$TMP/time")
  printf '%-40s %7.2f s wall %6.2f s cpu %8.1f MB\n' "$label" "$secs" "$(echo "$user + $sys" | bc -l)" \
    "$(echo "$kb / 1024" | bc -l)"
  echo "$secs" >>"$TMP/$label.times"
  echo "$kb" >>"$TMP/$label.rss"
}

median() { sort -n "$TMP/$1.times" | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
peak_mb() { sort -n "$TMP/$1.rss" | tail -n 1 | awk '{ printf "%.1f", $1 / 1024 }'; }

# diff_and_merge DIR LIVE: the two-way peer of `revert --apply`: the diff, then the merge of
# the same rows (every updated row back to base's values).
diff_and_merge() {
  "$BIN" -q diff --scratch "$1/base.db" --live "$2" --tables t >/dev/null || [ $? -eq 1 ]
  "$BIN" -q merge --scratch "$1/base.db" --live "$2" --tables t --columns amount,status --restore updated --apply >/dev/null
}
export -f diff_and_merge
export BIN

echo "load average: $(cut -d' ' -f1-3 /proc/loadavg) on $(nproc) cores; lastgood: $BIN"
echo "== $ROWS rows, 1% damaged, 0.1% conflicts; $RUNS interleaved runs of each"
D=$TMP/m
make_three "$ROWS" "$D"
REV=(-q revert --base "$D/base.db" --damaged "$D/damaged.db" --tables t --columns amount,status)
for i in $(seq "$RUNS"); do
  measure "revert (dry run)" "$BIN" "${REV[@]}" --live "$D/live.db"
  measure "diff base vs live" "$BIN" -q diff --scratch "$D/base.db" --live "$D/live.db" --tables t
  cp "$D/live.db" "$D/live-a.db"; rm -f "$D"/live-a.db.lastgood-snapshot-*
  measure "revert --apply" "$BIN" "${REV[@]}" --live "$D/live-a.db" --apply
  cp "$D/live.db" "$D/live-b.db"; rm -f "$D"/live-b.db.lastgood-snapshot-*
  measure "diff + merge --apply" bash -c 'diff_and_merge "$0" "$1"' "$D" "$D/live-b.db"
done
"$BIN" -q revert "${REV[@]:2}" --live "$D/live.db" | grep -E "to write|conflicts:" || true

plan=$(median "revert (dry run)"); diff=$(median "diff base vs live")
apply=$(median "revert --apply"); peer=$(median "diff + merge --apply")
echo "== medians of $RUNS"
printf '%-40s %7.2f s   %.2fx diff (bound 1.6x)\n' "revert (dry run)" "$plan" "$(echo "$plan / $diff" | bc -l)"
printf '%-40s %7.2f s\n' "diff base vs live" "$diff"
printf '%-40s %7.2f s   %.2fx diff + merge (bound 1.0x)\n' "revert --apply" "$apply" "$(echo "$apply / $peer" | bc -l)"
printf '%-40s %7.2f s\n' "diff + merge --apply" "$peer"
echo "peak RSS at $ROWS rows: revert dry run $(peak_mb "revert (dry run)") MB, revert --apply $(peak_mb "revert --apply") MB (bound 64 MB)"

if [ "$ROWS_BIG" != 0 ]; then
  echo "== $ROWS_BIG rows: peak RSS"
  rm -rf "$D"
  B=$TMP/b
  make_three "$ROWS_BIG" "$B"
  REV=(-q revert --base "$B/base.db" --damaged "$B/damaged.db" --tables t --columns amount,status)
  measure "revert (dry run) big" "$BIN" "${REV[@]}" --live "$B/live.db"
  measure "revert --apply big" "$BIN" "${REV[@]}" --live "$B/live.db" --apply
fi
