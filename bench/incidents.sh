#!/usr/bin/env bash
# `lastgood incidents` (issue 13, "find the transaction") against `pg_waldump` alone over the same
# archived WAL, in a throwaway cluster (bench/pgcluster.sh).
#
#   bash bench/incidents.sh                     # pgbench scale 20, ~500 MB of WAL, 3 interleaved runs
#   SCALE=5 WAL_MB=100 RUNS=5 bash bench/incidents.sh
#
# Data, generated at run time: `pgbench -i -s SCALE` (not archived: loaded before archiving
# starts, as before a base backup), then archive_mode = on with `lastgood wal-archive %p %f --repo
# R` as archive_command, full_page_writes = on (as in production; fsync stays off), and the pgbench
# TPC-B-like workload in 15 s rounds until WAL_MB of WAL is written, then one bad `UPDATE
# pgbench_accounts SET abalance = 0 WHERE aid <= 10000` and a segment switch. Timed, interleaved,
# page cache warm: `lastgood incidents --table pgbench_accounts --wal R/wal --live URL` (stdout to
# /dev/null), `pg_waldump -p R/wal FIRST LAST > /dev/null` (the operator's first step today,
# before any grep), and, for reference, pg_waldump with the record filter lastgood passes it
# (`-r Heap -r Heap2 -r Transaction`). Printed: each run, the medians, the ratio to pg_waldump
# (target <= 1.3x), WAL MB/s, lastgood's peak memory, and that the bad xid is listed first.
set -euo pipefail

SCALE=${SCALE:-20}
WAL_MB=${WAL_MB:-500}
RUNS=${RUNS:-3}
NAME=incidents
# shellcheck source=bench/pgcluster.sh
source "$(dirname "$0")/pgcluster.sh"
P=(psql -X -q -A -t -v ON_ERROR_STOP=1)
[ -x /usr/bin/time ] || { echo "/usr/bin/time missing (apt-get install time)"; exit 4; }

"${P[@]}" -d postgres -c "CREATE DATABASE shop" >/dev/null
echo "pgbench -i -s $SCALE ..." >&2
"$BIN/pgbench" -i -q -s "$SCALE" shop >/dev/null 2>&1
"${P[@]}" -d postgres -c "SELECT pg_switch_wal()" >/dev/null
REPO=$WORK/repo
mkdir -p "$REPO"
[[ $(id -u) == 0 ]] && chown -R postgres:postgres "$REPO"
"${P[@]}" -d postgres -c "ALTER SYSTEM SET archive_mode = on" \
    -c "ALTER SYSTEM SET archive_command = '$LASTGOOD wal-archive %p %f --repo $REPO'" \
    -c "ALTER SYSTEM SET full_page_writes = on" >/dev/null
"${AS[@]}" "$BIN/pg_ctl" -D "$WORK/data" -l "$WORK/server.log" -w restart >/dev/null

start=$("${P[@]}" -d postgres -c "SELECT pg_current_wal_lsn()")
written() { "${P[@]}" -d postgres -c "SELECT (pg_current_wal_lsn() - '$start') / 1000000"; }
echo "pgbench until $WAL_MB MB of WAL ..." >&2
while (( $(written | cut -d. -f1) < WAL_MB )); do
    "$BIN/pgbench" -n -c 2 -j 2 -T 15 shop >/dev/null 2>&1
done
BAD=$("${P[@]}" -d shop -c "BEGIN" -c "SELECT txid_current()" \
    -c "UPDATE pgbench_accounts SET abalance = 0 WHERE aid <= 10000" -c "COMMIT")
"$BIN/pgbench" -n -c 2 -j 2 -t 200 shop >/dev/null 2>&1
LAST=$("${P[@]}" -d postgres -c "SELECT pg_walfile_name(pg_switch_wal())")
until [[ $("${P[@]}" -d postgres -c "SELECT coalesce(last_archived_wal, '') FROM pg_stat_archiver") > "$LAST" ||
         $("${P[@]}" -d postgres -c "SELECT coalesce(last_archived_wal, '') FROM pg_stat_archiver") == "$LAST" ]]; do
    sleep 0.5
done
WAL=$REPO/wal
SEGS=$(ls "$WAL" | grep -E '^[0-9A-F]{24}$' | sort)
FIRST=$(head -1 <<<"$SEGS"); LASTSEG=$(tail -1 <<<"$SEGS"); NSEG=$(wc -l <<<"$SEGS")
BYTES=$(cat $(sed "s|^|$WAL/|" <<<"$SEGS") | wc -c)
URL="postgres://postgres@127.0.0.1:$PORT/shop"
TXNS=$("${P[@]}" -d shop -c "SELECT count(*) FROM pgbench_history")
TMP=$WORK/times
mkdir -p "$TMP"

measure() {
  local label=$1; shift
  /usr/bin/time -f "%e %M" -o "$TMP/time" "$@" >/dev/null 2>"$TMP/err" || {
    local rc=$?; [ $rc -le 1 ] || { cat "$TMP/err"; exit $rc; }; }
  read -r secs kb < <(tail -n 1 "$TMP/time")
  printf '%-38s %7.2f s wall %8.1f MB peak\n' "$label" "$secs" "$(echo "$kb / 1024" | bc -l)"
  echo "$secs" >>"$TMP/$label.times"
}
median() { sort -n "$TMP/$1.times" | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }

echo "load average: $(cut -d' ' -f1-3 /proc/loadavg) on $(nproc) cores; lastgood: $LASTGOOD; $("$BIN/pg_waldump" --version)"
echo "== pgbench scale $SCALE; $NSEG segments ($FIRST … $LASTSEG), $((BYTES / 1000000)) MB of WAL; $TXNS pgbench transactions; bad xid $BAD; $RUNS interleaved runs"
INC=("$LASTGOOD" -q incidents --table pgbench_accounts --wal "$WAL" --live "$URL")
# Warm the page cache.
cat $(sed "s|^|$WAL/|" <<<"$SEGS") >/dev/null
for _ in $(seq "$RUNS"); do
  measure "lastgood incidents" "${INC[@]}"
  measure "pg_waldump" "$BIN/pg_waldump" -p "$WAL" "$FIRST" "$LASTSEG"
  measure "pg_waldump -r Heap,Heap2,Transaction" "$BIN/pg_waldump" -p "$WAL" -r Heap -r Heap2 -r Transaction "$FIRST" "$LASTSEG"
done
TOP=$("${INC[@]}" --json --limit 1 | python3 -c 'import json,sys; t=json.load(sys.stdin)["transactions"][0]; print(t["xid"], t["rows"], t["commit_time"])')
inc=$(median "lastgood incidents"); dump=$(median "pg_waldump"); filt=$(median "pg_waldump -r Heap,Heap2,Transaction")
echo "== medians of $RUNS"
printf '%-38s %7.2f s   %6.1f MB/s of WAL   %.2fx pg_waldump (target <= 1.3x)\n' "lastgood incidents" "$inc" \
  "$(echo "$BYTES / 1000000 / $inc" | bc -l)" "$(echo "$inc / $dump" | bc -l)"
printf '%-38s %7.2f s   %6.1f MB/s of WAL\n' "pg_waldump" "$dump" "$(echo "$BYTES / 1000000 / $dump" | bc -l)"
printf '%-38s %7.2f s   %6.1f MB/s of WAL\n' "pg_waldump -r Heap,Heap2,Transaction" "$filt" "$(echo "$BYTES / 1000000 / $filt" | bc -l)"
echo "first listed: xid rows commit_time = $TOP (bad xid $BAD, 10000 rows)"
