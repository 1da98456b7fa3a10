#!/usr/bin/env bash
# One-table restore from a pg_dump custom archive: `lastgood restore --tables` against
# `pg_restore -t` into a fresh database, on `pgbench -i -s SCALE` data (scale 20 = 2M
# pgbench_accounts rows). Everything runs in a throwaway cluster in a temp dir (as the postgres OS
# user when run as root), removed at the end.
#
#   bash bench/pg.sh [SCALE] [RUNS]        (defaults: 20, 3)
#
# Reported: median wall time of each, their ratio (target <= 1.1), and lastgood's peak RSS; then
# `lastgood diff` of pgbench_accounts against a copy with 1% of rows changed (rows/s, peak RSS).
# Note: lastgood restores the table with its primary key (as a one-table restore must); pg_restore
# -t restores the bare table only, so a third line times pg_restore with the same -L list, and a
# fourth lastgood with --jobs 1 (rows loaded by pg_restore itself, not over two connections).
set -euo pipefail

SCALE=${1:-20}
RUNS=${2:-3}
NAME=pg
# shellcheck source=bench/pgcluster.sh
source "$(dirname "$0")/pgcluster.sh"

"$BIN/createdb" shop
echo "pgbench -i -s $SCALE ..." >&2
"$BIN/pgbench" -i -s "$SCALE" -q shop 2>/dev/null
REPO=$WORK/repo
mkdir -p "$REPO"
chmod 777 "$REPO"
"$BIN/pg_dump" -Fc -f "$REPO/shop.dump" shop
echo "archive: $(du -h "$REPO/shop.dump" | cut -f1), $("$BIN/psql" -Atc 'SELECT count(*) FROM pgbench_accounts' shop) pgbench_accounts rows" >&2
# Warm the catalog cache once, as an operator's earlier `lastgood catalog` would.
"$LASTGOOD" --quiet catalog --repo "$REPO" >/dev/null

now() { date +%s.%N; }
median() { sort -g | awk '{a[NR]=$1} END {print (NR % 2) ? a[(NR+1)/2] : (a[NR/2] + a[NR/2+1]) / 2}'; }
LIST=$WORK/accounts.list
"$BIN/pg_restore" -l "$REPO/shop.dump" | grep -E 'pgbench_accounts( |_pkey)' > "$LIST"

: > "$WORK/t_lastgood"; : > "$WORK/t_lastgood1"; : > "$WORK/t_pgrestore"; : > "$WORK/t_pglist"; : > "$WORK/rss"
# Every timed command starts after a CHECKPOINT, so that none pays for writing out the buffers
# the previous one dirtied.
quiet() { "$BIN/psql" -qc CHECKPOINT postgres; }
for i in $(seq 1 "$RUNS"); do
    quiet; t0=$(now)
    /usr/bin/time -f %M -o "$WORK/rss.$i" "$LASTGOOD" --quiet restore --repo "$REPO" --backup latest \
        --live "postgres://postgres@127.0.0.1:$PORT/shop" --tables pgbench_accounts --into "lg_$i" >/dev/null
    t1=$(now); quiet; t1b=$(now)
    "$BIN/createdb" "pr_$i" && "$BIN/pg_restore" -t pgbench_accounts -d "pr_$i" "$REPO/shop.dump"
    t2=$(now); quiet; t2b=$(now)
    "$BIN/createdb" "pl_$i" && "$BIN/pg_restore" -L "$LIST" -d "pl_$i" "$REPO/shop.dump"
    t3=$(now); quiet; t3b=$(now)
    "$LASTGOOD" --quiet restore --repo "$REPO" --backup latest --jobs 1 \
        --live "postgres://postgres@127.0.0.1:$PORT/shop" --tables pgbench_accounts --into "l1_$i" >/dev/null
    t4=$(now)
    echo "$t1 - $t0" | bc >> "$WORK/t_lastgood"
    echo "$t2 - $t1b" | bc >> "$WORK/t_pgrestore"
    echo "$t3 - $t2b" | bc >> "$WORK/t_pglist"
    echo "$t4 - $t3b" | bc >> "$WORK/t_lastgood1"
    cat "$WORK/rss.$i" >> "$WORK/rss"
    rows=$("$BIN/psql" -Atc 'SELECT count(*) FROM pgbench_accounts' "lg_$i")
    pk=$("$BIN/psql" -Atc "SELECT count(*) FROM pg_indexes WHERE indexname = 'pgbench_accounts_pkey'" "lg_$i")
    [[ $rows == $((SCALE * 100000)) && $pk == 1 ]] || { echo "lastgood restore incomplete: $rows rows, pk $pk" >&2; exit 1; }
    "$BIN/dropdb" "lg_$i"; "$BIN/dropdb" "pr_$i"; "$BIN/dropdb" "pl_$i"; "$BIN/dropdb" "l1_$i"
done

lg=$(median < "$WORK/t_lastgood")
pr=$(median < "$WORK/t_pgrestore")
pl=$(median < "$WORK/t_pglist")
l1=$(median < "$WORK/t_lastgood1")
rss=$(sort -n "$WORK/rss" | tail -1)
printf 'one-table restore of pgbench_accounts (%d rows), median of %d runs\n' $((SCALE * 100000)) "$RUNS"
printf '  lastgood restore --tables (table + primary key): %6.2f s   peak RSS %d MB\n' "$lg" $((rss / 1024))
printf '  createdb + pg_restore -t (bare table):            %6.2f s   ratio %.2fx\n' "$pr" "$(echo "$lg / $pr" | bc -l)"
printf '  createdb + pg_restore -L (table + primary key):   %6.2f s   ratio %.2fx\n' "$pl" "$(echo "$lg / $pl" | bc -l)"
printf '  (context) lastgood --jobs 1 (one pg_restore run): %6.2f s\n' "$l1"

# Diff: scratch is a copy of shop, then 1% of live's accounts change.
"$BIN/createdb" -T shop scratch
"$BIN/psql" -qc "UPDATE pgbench_accounts SET abalance = abalance + 1 WHERE aid % 100 = 0" shop
"$BIN/psql" -qc "VACUUM ANALYZE pgbench_accounts" shop
: > "$WORK/t_diff"; : > "$WORK/rss_diff"
for i in $(seq 1 "$RUNS"); do
    quiet; t0=$(now)
    set +e
    /usr/bin/time -f %M -o "$WORK/rss_diff.$i" "$LASTGOOD" --quiet diff --scratch "postgres://postgres@127.0.0.1:$PORT/scratch" \
        --live "postgres://postgres@127.0.0.1:$PORT/shop" --tables pgbench_accounts > "$WORK/diff.out"
    rc=$?
    set -e
    t1=$(now)
    [[ $rc == 1 ]] && grep -q "$((SCALE * 1000)) difference" "$WORK/diff.out" || { echo "diff gave: $(cat "$WORK/diff.out")" >&2; exit 1; }
    echo "$t1 - $t0" | bc >> "$WORK/t_diff"
    cat "$WORK/rss_diff.$i" >> "$WORK/rss_diff"
done
df=$(median < "$WORK/t_diff")
rss=$(sort -n "$WORK/rss_diff" | tail -1)
printf 'diff of pgbench_accounts, %d rows per side, 1%% changed: %.2f s, %.2fM rows/s compared, peak RSS %d MB\n' \
    $((SCALE * 100000)) "$df" "$(echo "$SCALE * 100000 / $df / 1000000" | bc -l)" $((rss / 1024))
