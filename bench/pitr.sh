#!/usr/bin/env bash
# Point-in-time restore of one table (issue 13) against what an operator does today, in a
# throwaway cluster (bench/pgcluster.sh).
#
#   bash bench/pitr.sh                          # pgbench scale 20, ~500 MB of WAL, 3 interleaved runs
#   SCALE=5 WAL_MB=100 RUNS=5 bash bench/pitr.sh
#
# Data, generated at run time: `pgbench -i -s SCALE`, archive_mode = on with `lastgood wal-archive
# %p %f --repo R` as archive_command (full_page_writes = on, as in production), `lastgood backup
# --base`, then the pgbench TPC-B-like workload until WAL_MB of WAL is written after the base
# backup, a quiet second whose middle is T, one bad `UPDATE pgbench_accounts SET abalance = 0
# WHERE aid <= 10000` (xid X), more pgbench, a segment switch.
#
# Timed, interleaved, page cache warm:
#   peer: the operator's way today: `tar -xf` the base backup (base.tar, pg_wal.tar) into a
#         folder, recovery.signal + restore_command (cp from the archive) + recovery_target_time =
#         T + recovery_target_action = pause + fsync = off (as lastgood's instance), start
#         postgres on a private socket, wait for the pause (unpack + replay), then `createdb` + `pg_dump -Fc -t pgbench_accounts |
#         pg_restore -d` (copy), stop, remove;
#   ours: `lastgood restore --at T --tables pgbench_accounts --live URL --json`, whose report
#         times the same phases (unpack, replay, copy);
#   both sides: `lastgood revert --txn X --tables pgbench_accounts --live URL --json` (dry run:
#         before and after X from one unpack, then the three-way plan); the seconds it reports
#         for restoring both sides against one `restore --before-txn X` (target <= 1.5x).
# Printed: each run, the medians per phase, the copy ratio (target <= 0.8x of pg_dump |
# pg_restore), the totals side by side, WAL replay MB/s, lastgood's own peak memory.
set -euo pipefail

SCALE=${SCALE:-20}
WAL_MB=${WAL_MB:-500}
RUNS=${RUNS:-3}
NAME=pitr
# shellcheck source=bench/pgcluster.sh
source "$(dirname "$0")/pgcluster.sh"
P=(psql -X -q -A -t -v ON_ERROR_STOP=1)
[ -x /usr/bin/time ] || { echo "/usr/bin/time missing (apt-get install time)"; exit 4; }
command -v jq >/dev/null || { echo "jq missing (apt-get install jq)"; exit 4; }

"${P[@]}" -d postgres -c "CREATE DATABASE shop" >/dev/null
echo "pgbench -i -s $SCALE ..." >&2
"$BIN/pgbench" -i -q -s "$SCALE" shop >/dev/null 2>&1
REPO=$WORK/repo
mkdir -p "$REPO"
[[ $(id -u) == 0 ]] && chown -R postgres:postgres "$REPO"
"${P[@]}" -d postgres -c "ALTER SYSTEM SET archive_mode = on" \
    -c "ALTER SYSTEM SET archive_command = '$LASTGOOD wal-archive %p %f --repo $REPO'" \
    -c "ALTER SYSTEM SET full_page_writes = on" -c "ALTER SYSTEM SET wal_level = replica" >/dev/null
"${AS[@]}" "$BIN/pg_ctl" -D "$WORK/data" -l "$WORK/server.log" -w restart >/dev/null
URL="postgres://postgres@127.0.0.1:$PORT/shop"
echo "lastgood backup --base ..." >&2
"$LASTGOOD" -q backup --base --live "$URL" --repo "$REPO" >/dev/null
[[ $(id -u) == 0 ]] && chown -R postgres:postgres "$REPO"
BASE=$(ls -d "$REPO"/base/*/ | head -1)

start=$("${P[@]}" -d postgres -c "SELECT pg_current_wal_lsn()")
written() { "${P[@]}" -d postgres -c "SELECT (pg_current_wal_lsn() - '$start') / 1000000"; }
echo "pgbench until $WAL_MB MB of WAL ..." >&2
while (( $(written | cut -d. -f1) < WAL_MB )); do
    "$BIN/pgbench" -n -c 2 -j 2 -T 15 shop >/dev/null 2>&1
done
sleep 1
T=$("${P[@]}" -d postgres -c "SELECT to_char(now() AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"')")
T_PG=${T/T/ }; T_PG=${T_PG/Z/+00}
sleep 1
BAD=$("${P[@]}" -d shop -c "BEGIN" -c "SELECT txid_current()" \
    -c "UPDATE pgbench_accounts SET abalance = 0 WHERE aid <= 10000" -c "COMMIT")
"$BIN/pgbench" -n -c 2 -j 2 -t 200 shop >/dev/null 2>&1
LAST=$("${P[@]}" -d postgres -c "SELECT pg_walfile_name(pg_switch_wal())")
archived() { "${P[@]}" -d postgres -c "SELECT coalesce(last_archived_wal, '') FROM pg_stat_archiver"; }
until [[ $(archived) > "$LAST" || $(archived) == "$LAST" ]]; do sleep 0.5; done
WAL=$REPO/wal
WALBYTES=$(du -sb "$WAL" | cut -f1)
TMP=$WORK/times
mkdir -p "$TMP"
[[ $(id -u) == 0 ]] && chown postgres:postgres "$TMP"

# Rows of pgbench_accounts at T, for the check that both ways restore the same table.
record() { echo "$2" >>"$TMP/$1.times"; printf '%-44s %7.2f s\n' "$1" "$2"; }
median() { sort -n "$TMP/$1.times" | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
now() { date +%s.%N; }
since() { echo "$(now) - $1" | bc -l; }

# The operator's way, phase by phase.
peer() {
  local d=$WORK/peer t0 t1 t2
  rm -rf "$d"; "${AS[@]}" mkdir -m 700 "$d"
  t0=$(now)
  "${AS[@]}" tar -xf "$BASE/base.tar" -C "$d"
  "${AS[@]}" tar -xf "$BASE/pg_wal.tar" -C "$d/pg_wal"
  "${AS[@]}" touch "$d/recovery.signal"
  "${AS[@]}" bash -c "cat >> '$d/postgresql.auto.conf'" <<EOF
restore_command = 'cp $WAL/%f %p'
recovery_target_time = '$T_PG'
recovery_target_action = 'pause'
archive_mode = off
port = $((PORT + 1))
listen_addresses = ''
unix_socket_directories = '$d'
hot_standby = on
fsync = off
EOF
  record "peer unpack" "$(since "$t0")"
  t1=$(now)
  "${AS[@]}" "$BIN/pg_ctl" -D "$d" -l "$d/log" -w start >/dev/null || { tail -20 "$d/log"; exit 1; }
  until [[ $("${P[@]}" -h "$d" -p $((PORT + 1)) -d postgres -c "SELECT pg_get_wal_replay_pause_state()" 2>/dev/null) == paused ]]; do
    sleep 0.1
  done
  record "peer replay" "$(since "$t1")"
  t2=$(now)
  "${P[@]}" -d postgres -c "DROP DATABASE IF EXISTS peer_scratch" -c "CREATE DATABASE peer_scratch" >/dev/null
  "$BIN/pg_dump" -Fc -h "$d" -p $((PORT + 1)) -t pgbench_accounts shop | "$BIN/pg_restore" --no-owner -d peer_scratch
  record "peer copy (pg_dump -t | pg_restore)" "$(since "$t2")"
  record "peer total" "$(since "$t0")"
  "${AS[@]}" "$BIN/pg_ctl" -D "$d" -m fast -w stop >/dev/null
  rm -rf "$d"
}

ours() {
  local t0 out
  t0=$(now)
  "$LASTGOOD" -q restore --at "$T" --tables pgbench_accounts --repo "$REPO" \
      --live "$URL" --into ours_scratch --force --json >"$TMP/ours.json" &
  local pid=$! hwm=0 kb
  # lastgood's own peak memory (VmHWM; /usr/bin/time would report the recovery instance, a
  # child whose shared buffers count as its resident memory).
  while kb=$(awk '/^VmHWM/ { print $2 }' "/proc/$pid/status" 2>/dev/null) && [[ -n $kb ]]; do
    hwm=$kb; sleep 0.05
  done
  wait "$pid"
  local total; total=$(since "$t0")
  record "ours unpack" "$(jq -r '.seconds.unpack' "$TMP/ours.json")"
  record "ours replay" "$(jq -r '.seconds.replay' "$TMP/ours.json")"
  record "ours copy" "$(jq -r '.seconds.copy' "$TMP/ours.json")"
  record "ours total" "$total"
  echo "$hwm" >>"$TMP/rss.all"
}

sides() {
  local t0
  t0=$(now)
  "$LASTGOOD" -q restore --before-txn "$BAD" --tables pgbench_accounts --repo "$REPO" --live "$URL" \
      --into ours_before --force >/dev/null
  record "restore --before-txn (one side)" "$(since "$t0")"
  t0=$(now)
  "$LASTGOOD" -q revert --txn "$BAD" --tables pgbench_accounts --repo "$REPO" --live "$URL" --json >"$TMP/revert.jsonl" ||
      [ $? -eq 1 ]
  record "revert --txn, dry run" "$(since "$t0")"
  record "revert --txn: restoring both sides" "$(jq -r 'select(.type == "end") | .span.restore_seconds' "$TMP/revert.jsonl")"
}

if [[ ${HOLD:-0} == 1 ]]; then  # keep the cluster for trying things by hand
  echo "REPO=$REPO URL=$URL T=$T BAD=$BAD BASE=$BASE"; sleep infinity
fi
echo "load average: $(cut -d' ' -f1-3 /proc/loadavg) on $(nproc) cores; lastgood: $LASTGOOD; $("$BIN/postgres" --version)"
echo "== pgbench scale $SCALE; $((WALBYTES / 1000000)) MB in the WAL archive; T = $T; bad xid $BAD; $RUNS interleaved runs"
cat "$WAL"/* >/dev/null; cat "$BASE"/* >/dev/null
for _ in $(seq "$RUNS"); do
  peer
  ours
  sides
done
rows_peer=$("${P[@]}" -d peer_scratch -c "SELECT count(*), sum(abalance) FROM pgbench_accounts")
rows_ours=$("${P[@]}" -d ours_scratch -c "SELECT count(*), sum(abalance) FROM pgbench_accounts")
[[ $rows_peer == "$rows_ours" ]] || { echo "the two restores differ: peer $rows_peer, ours $rows_ours"; exit 1; }
keyed=$("${P[@]}" -d ours_scratch -c "SELECT count(*) FROM pg_index WHERE indrelid = 'pgbench_accounts'::regclass AND indisprimary")

echo "== medians of $RUNS (both restores hold $rows_peer rows|sum; ours keeps the primary key: $keyed)"
for l in unpack replay; do
  printf '%-10s peer %6.2f s   ours %6.2f s\n' "$l" "$(median "peer $l")" "$(median "ours $l")"
done
pc=$(median "peer copy (pg_dump -t | pg_restore)"); oc=$(median "ours copy")
printf '%-10s peer %6.2f s   ours %6.2f s   %.2fx (target <= 0.8x)\n' copy "$pc" "$oc" "$(echo "$oc / $pc" | bc -l)"
printf '%-10s peer %6.2f s   ours %6.2f s\n' total "$(median "peer total")" "$(median "ours total")"
one=$(median "restore --before-txn (one side)"); two=$(median "revert --txn: restoring both sides")
printf 'both sides of one transaction: %.2f s against one side %.2f s: %.2fx (target <= 1.5x); the whole revert --txn dry run %.2f s\n' \
    "$two" "$one" "$(echo "$two / $one" | bc -l)" "$(median "revert --txn, dry run")"
printf 'WAL replay: %.0f MB/s (ours, %d MB archive over the replay phase)\n' \
    "$(echo "$WALBYTES / 1000000 / $(median "ours replay")" | bc -l)" "$((WALBYTES / 1000000))"
echo "lastgood restore peak memory (its own VmHWM): $(sort -n "$TMP/rss.all" | tail -1 | awk '{ printf "%.1f", $1 / 1024 }') MB"
