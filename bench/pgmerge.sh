#!/usr/bin/env bash
# `lastgood merge --apply` into a PostgreSQL live: a table of ROWS rows (id int primary key,
# v text, n int) whose every `v` was overwritten, merged back from a scratch copy, in a throwaway
# cluster in a temp dir (as the postgres OS user when run as root), removed at the end. Prints
# the wall time and checks that no damaged row is left.
#
#   bash bench/pgmerge.sh [ROWS]        (default: 100000)
set -euo pipefail

ROWS=${1:-100000}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
LASTGOOD=${LASTGOOD:-$ROOT/target/release/lastgood}
if [[ ! -x $LASTGOOD ]]; then
    (cd "$ROOT" && cargo build --release --quiet)
fi
BIN=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)
[[ -x $BIN/initdb ]] || { echo "PostgreSQL binaries not found" >&2; exit 4; }

WORK=$(mktemp -d /tmp/lastgood-bench-pgmerge.XXXXXX)
AS=()
if [[ $(id -u) == 0 ]]; then
    chown postgres:postgres "$WORK"
    AS=(runuser -u postgres --)
fi
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
cleanup() {
    "${AS[@]}" "$BIN/pg_ctl" -D "$WORK/data" -m immediate -w stop >/dev/null 2>&1 || true
    rm -rf "$WORK"
}
trap cleanup EXIT

"${AS[@]}" "$BIN/initdb" -A trust -U postgres --no-sync -D "$WORK/data" >/dev/null
"${AS[@]}" "$BIN/pg_ctl" -D "$WORK/data" -l "$WORK/server.log" -w -o \
    "-c listen_addresses=127.0.0.1 -c port=$PORT -c unix_socket_directories=$WORK" start >/dev/null
export PGHOST=127.0.0.1 PGPORT=$PORT PGUSER=postgres
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
