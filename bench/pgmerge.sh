#!/usr/bin/env bash
# `lastgood merge --apply` into a PostgreSQL live: a table of ROWS rows (id int primary key,
# v text, n int) whose every `v` was overwritten, merged back from a scratch copy, in a throwaway
# cluster in a temp dir (as the postgres OS user when run as root), removed at the end. Prints
# the wall time and checks that no damaged row is left.
#
#   bash bench/pgmerge.sh [ROWS]        (default: 100000)
set -euo pipefail

ROWS=${1:-100000}
PG_DURABLE=1
NAME=pgmerge
# shellcheck source=bench/pgcluster.sh
source "$(dirname "$0")/pgcluster.sh"
P=(psql -X -q -v ON_ERROR_STOP=1)

"${P[@]}" -d postgres -c "CREATE DATABASE mlive"
"${P[@]}" -d mlive -c "CREATE TABLE t(id int PRIMARY KEY, v text, n int);
    INSERT INTO t SELECT g, 'v' || g, g FROM generate_series(1, $ROWS) g; ANALYZE t;"
"${P[@]}" -d postgres -c "CREATE DATABASE mscr TEMPLATE mlive"
"${P[@]}" -d mlive -c "UPDATE t SET v = 'bad'"

echo "== merge --apply of $ROWS updated rows into PostgreSQL (lastgood: $LASTGOOD)"
cd "$WORK"
start=$(date +%s.%N)
"$LASTGOOD" --quiet merge --scratch "postgres://postgres@127.0.0.1:$PORT/mscr" \
    --live "postgres://postgres@127.0.0.1:$PORT/mlive" --restore updated --apply >/dev/null
end=$(date +%s.%N)
printf 'lastgood merge --restore updated --apply   %.2f s wall\n' "$(echo "$end - $start" | bc)"
left=$("${P[@]}" -A -t -d mlive -c "SELECT count(*) FROM t WHERE v = 'bad'")
[[ $left == 0 ]] || { echo "after the merge: $left damaged rows remain" >&2; exit 1; }
echo "after the merge: no damaged row remains"
