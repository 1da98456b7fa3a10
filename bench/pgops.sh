#!/usr/bin/env bash
# PostgreSQL operations on `pgbench -i -s SCALE` data (scale 10 = 1M pgbench_accounts rows), in a
# throwaway cluster in a temp dir (as the postgres OS user when run as root), removed at the end:
#   - `lastgood backup` into two repositories against a bare `pg_dump -Fc` (median of RUNS);
#   - `lastgood bisect` over 8 archives where pgbench_branches goes bad from the 5th, each probe
#     restoring only that table into a scratch database (checks run, wall time);
#   - `lastgood drill` of the newest archive (whole restore into scratch + checks: RTO);
#   - that no scratch database is left on the server.
#
#   bash bench/pgops.sh [SCALE] [RUNS]        (defaults: 10, 3)
set -euo pipefail

SCALE=${1:-10}
RUNS=${2:-3}
NAME=pgops
# shellcheck source=bench/pgcluster.sh
source "$(dirname "$0")/pgcluster.sh"

"$BIN/createdb" shop
echo "pgbench -i -s $SCALE ..." >&2
"$BIN/pgbench" -i -s "$SCALE" -q shop 2>/dev/null
URL="postgres://postgres@127.0.0.1:$PORT/shop"
SERVER="postgres://postgres@127.0.0.1:$PORT/postgres"
R1=$WORK/repo1; R2=$WORK/repo2; RB=$WORK/bisect
mkdir -p "$R1" "$R2" "$RB"
now() { date +%s.%N; }
median() { sort -g | awk '{a[NR]=$1} END {print (NR % 2) ? a[(NR+1)/2] : (a[NR/2] + a[NR/2+1]) / 2}'; }

: > "$WORK/t_dump"; : > "$WORK/t_backup"
for i in $(seq 1 "$RUNS"); do
    t0=$(now)
    "$BIN/pg_dump" -Fc -f "$WORK/bare-$i.dump" shop
    t1=$(now)
    "$LASTGOOD" --quiet backup --live "$URL" --repo "$R1" --repo "$R2" >/dev/null
    t2=$(now)
    echo "$t1 - $t0" | bc >> "$WORK/t_dump"
    echo "$t2 - $t1" | bc >> "$WORK/t_backup"
    rm -f "$WORK/bare-$i.dump"
    sleep 1
done
echo "archive: $(du -h "$(ls "$R1"/*.dump | head -1)" | cut -f1)"
echo "pg_dump -Fc:                          $(median < "$WORK/t_dump") s (median of $RUNS)"
echo "lastgood backup (2 repos, rows, sha): $(median < "$WORK/t_backup") s (median of $RUNS)"

for i in $(seq 1 8); do
    [[ $i == 5 ]] && "$BIN/psql" -qc "UPDATE pgbench_branches SET bbalance = -1 WHERE bid = 1" shop
    "$LASTGOOD" --quiet backup --live "$URL" --repo "$RB" >/dev/null
    sleep 1
done
t0=$(now)
out=$("$LASTGOOD" --quiet --json bisect --repo "$RB" --tables pgbench_branches --scratch-url "$SERVER" \
    --check "SELECT count(*) = 0 FROM pgbench_branches WHERE bbalance < 0")
t1=$(now)
checks=$(echo "$out" | python3 -c 'import json,sys; print(json.load(sys.stdin)["checks_run"])')
echo "bisect over 8 archives: $checks checks, $(echo "$t1 - $t0" | bc) s"

t0=$(now)
out=$("$LASTGOOD" --quiet --json drill --repo "$R1" --scratch-url "$SERVER" \
    --min-rows "pgbench_accounts=$((SCALE * 100000))" --check "SELECT count(*) > 0 FROM pgbench_branches" || true)
t1=$(now)
echo "$out" | python3 -c 'import json,sys; d=json.load(sys.stdin)["databases"][0]; print("drill:", "PASS" if d["ok"] else "FAIL", "RTO %.2f s" % d["rto_seconds"])'
echo "drill wall time (verify + restore + checks + drop): $(echo "$t1 - $t0" | bc) s"
left=$("$BIN/psql" -Atc "SELECT count(*) FROM pg_database WHERE datname LIKE 'lastgood%'" postgres)
echo "scratch databases left: $left"
[[ $left == 0 ]]
