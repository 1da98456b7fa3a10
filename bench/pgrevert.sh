#!/usr/bin/env bash
# `lastgood revert` on PostgreSQL (issue 12): rows per side per second on pgbench's accounts table,
# against `lastgood diff` of the same databases, in a throwaway cluster (bench/pgcluster.sh).
#
#   bash bench/pgrevert.sh              # pgbench scale 20 (2M rows), 5 interleaved runs, medians
#   SCALE=5 RUNS=3 bash bench/pgrevert.sh
#
# Data, generated at run time: `base` = pgbench -i -s SCALE; `damaged` = base with 1% of the
# accounts' abalance set to -1 (one UPDATE); `live` = damaged plus later writes (0.1% of the
# accounts re-priced, so conflicts; and 1000 new rows). Base, damaged and live are three databases
# of one server. Timed: `revert --tables pgbench_accounts --columns abalance` as a dry run (three
# key-ordered streams merge-joined: "rows per side per second" = rows of the table / seconds), and
# `diff` of base against live, interleaved. Every run is printed; the medians are the figures.
set -euo pipefail

SCALE=${SCALE:-20}
RUNS=${RUNS:-5}
NAME=pgrevert
# shellcheck source=bench/pgcluster.sh
source "$(dirname "$0")/pgcluster.sh"
P=(psql -X -q -v ON_ERROR_STOP=1)
[ -x /usr/bin/time ] || { echo "/usr/bin/time missing (apt-get install time)"; exit 4; }

"${P[@]}" -d postgres -c "CREATE DATABASE rbase"
"$BIN/pgbench" -i -q -s "$SCALE" rbase >/dev/null 2>&1
"${P[@]}" -d postgres -c "CREATE DATABASE rdamaged TEMPLATE rbase"
"${P[@]}" -d rdamaged -c "UPDATE pgbench_accounts SET abalance = -1 WHERE aid % 100 = 7" -c "VACUUM ANALYZE pgbench_accounts"
"${P[@]}" -d postgres -c "CREATE DATABASE rlive TEMPLATE rdamaged"
"${P[@]}" -d rlive -c "UPDATE pgbench_accounts SET abalance = 42 WHERE aid % 1000 = 7;
    INSERT INTO pgbench_accounts SELECT 100000000 + g, 1, 0, '' FROM generate_series(1, 1000) g" \
    -c "VACUUM ANALYZE pgbench_accounts"
ROWS=$("${P[@]}" -A -t -d rbase -c "SELECT count(*) FROM pgbench_accounts")
url() { echo "postgres://postgres@127.0.0.1:$PORT/$1"; }
TMP=$WORK/times
mkdir -p "$TMP"

measure() {
  local label=$1; shift
  /usr/bin/time -f "%e %M" -o "$TMP/time" "$@" >/dev/null 2>"$TMP/err" || {
    local rc=$?; [ $rc -le 1 ] || { cat "$TMP/err"; exit $rc; }; }
  read -r secs kb < <(tail -n 1 "$TMP/time")
  printf '%-28s %7.2f s wall %8.1f MB\n' "$label" "$secs" "$(echo "$kb / 1024" | bc -l)"
  echo "$secs" >>"$TMP/$label.times"
}
median() { sort -n "$TMP/$1.times" | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }

echo "load average: $(cut -d' ' -f1-3 /proc/loadavg) on $(nproc) cores; lastgood: $LASTGOOD"
echo "== pgbench scale $SCALE: $ROWS rows in pgbench_accounts; $RUNS interleaved runs"
REV=(-q revert --base "$(url rbase)" --damaged "$(url rdamaged)" --live "$(url rlive)"
     --tables pgbench_accounts --columns abalance)
for _ in $(seq "$RUNS"); do
  measure "revert (dry run)" "$LASTGOOD" "${REV[@]}"
  measure "diff base vs live" "$LASTGOOD" -q diff --scratch "$(url rbase)" --live "$(url rlive)" --tables pgbench_accounts
done
"$LASTGOOD" "${REV[@]:1}" | grep -E "to write|conflict" | head -5 || true
plan=$(median "revert (dry run)"); diff=$(median "diff base vs live")
echo "== medians of $RUNS"
printf '%-28s %7.2f s   %.2fM rows per side per second (target >= 1M)\n' "revert (dry run)" "$plan" \
  "$(echo "$ROWS / $plan / 1000000" | bc -l)"
printf '%-28s %7.2f s   %.2fM rows per side per second\n' "diff base vs live" "$diff" \
  "$(echo "$ROWS / $diff / 1000000" | bc -l)"
