# Sourced by the PostgreSQL benchmarks (pg.sh, pgops.sh, pgmerge.sh): builds the release binary if
# needed and starts a throwaway cluster in a temp dir (as the postgres OS user when run as root) on
# a free port, stopped and removed on exit.
#   in:  NAME (temp dir label); PG_DURABLE=1 keeps fsync and synchronous_commit on
#   out: ROOT LASTGOOD BIN WORK AS PORT; PGHOST PGPORT PGUSER LASTGOOD_PG_BIN exported
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
LASTGOOD=${LASTGOOD:-$ROOT/target/release/lastgood}
if [[ ! -x $LASTGOOD ]]; then
    (cd "$ROOT" && cargo build --release --quiet)
fi
BIN=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)
[[ -x $BIN/initdb ]] || { echo "PostgreSQL binaries not found" >&2; exit 4; }

WORK=$(mktemp -d "/tmp/lastgood-bench-$NAME.XXXXXX")
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

FAST="-c fsync=off -c synchronous_commit=off -c full_page_writes=off"
[[ ${PG_DURABLE:-0} == 1 ]] && FAST=""
"${AS[@]}" "$BIN/initdb" -A trust -U postgres --no-sync -D "$WORK/data" >/dev/null
"${AS[@]}" "$BIN/pg_ctl" -D "$WORK/data" -l "$WORK/server.log" -w -o \
    "$FAST -c listen_addresses=127.0.0.1 -c port=$PORT -c unix_socket_directories=$WORK" \
    start >/dev/null
export PGHOST=127.0.0.1 PGPORT=$PORT PGUSER=postgres
unset PGPASSWORD PGDATABASE
export LASTGOOD_PG_BIN=$BIN
