#!/usr/bin/env bash
# Benchmark: bisect over 64 hourly backups of a 1M-row SQLite database.
#
# Data is generated at run time in a temporary folder (deleted at the end): one database with a
# 1,000,000-row `files` table, copied 64 times with a small change per copy (one row's `customer`
# bumped, so every backup has distinct content), and from copy BAD_FROM on, the bad change (one
# row's filename set to 'bad.zip'). Reports: time to build the catalog once (sha256 + row counts,
# cached afterwards), bisect time and number of checks (target: <= 7, seconds), --scan time, and
# history (64 x 1M rows digested; first run and cached run, peak RSS).
#
# Usage: bench/bisect.sh            (LASTGOOD=path/to/lastgood to use another binary;
#                                    BAD_FROM=N to move the bad change, default 41)
set -euo pipefail
cd "$(dirname "$0")/.."
LASTGOOD=${LASTGOOD:-target/release/lastgood}
BAD_FROM=${BAD_FROM:-41}
[ -x "$LASTGOOD" ] || cargo build --release --quiet
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir "$work/repo"

t0=$(date +%s.%N)
sqlite3 "$work/base.db" "
  CREATE TABLE files(id INTEGER PRIMARY KEY, customer INTEGER NOT NULL, filename TEXT NOT NULL);
  WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 1000000)
    INSERT INTO files SELECT x, x % 5000, 'file-' || x || '.zip' FROM c;"
for i in $(seq 0 63); do
  name=$(date -u -d "2026-11-21 00:00 UTC + $i hours" +shop-%Y-%m-%dT%H-%M-%S.db)
  cp "$work/base.db" "$work/repo/$name"
  sql="UPDATE files SET customer = customer + 1 WHERE id = $((i + 1));"
  if [ "$i" -ge "$BAD_FROM" ]; then sql="$sql UPDATE files SET filename = 'bad.zip' WHERE id = 777777;"; fi
  sqlite3 "$work/repo/$name" "$sql"
done
t1=$(date +%s.%N)
size=$(du -sh "$work/repo" | cut -f1)
echo "generated 64 backups of 1,000,000 rows ($size) in $(echo "$t1 - $t0" | bc) s; bad from copy $BAD_FROM"

check="SELECT count(*) = 0 FROM files WHERE filename = 'bad.zip'"
s=$(date +%s.%N)
"$LASTGOOD" --quiet --repo "$work/repo" catalog > /dev/null
e=$(date +%s.%N)
echo "catalog, first scan (sha256 + row counts of 64 files, cached afterwards): $(echo "$e - $s" | bc) s"

s=$(date +%s.%N)
"$LASTGOOD" --quiet --json --repo "$work/repo" bisect --check "$check" > "$work/bisect.json"
e=$(date +%s.%N)
python3 - "$work/bisect.json" "$BAD_FROM" <<'PY'
import json, sys
r = json.load(open(sys.argv[1])); bad_from = int(sys.argv[2])
lkg, bad = r["last_known_good"], r["first_bad"]
print(f"bisect: {r['checks_run']} checks over {r['candidates']} backups, core {r['seconds']:.2f} s; "
      f"last known good {lkg['taken_at']}, first bad {bad['taken_at']}")
assert r["checks_run"] <= 7, "more than 7 checks"
PY
echo "bisect wall time (process, cached catalog): $(echo "$e - $s" | bc) s"

s=$(date +%s.%N)
"$LASTGOOD" --quiet --json --repo "$work/repo" bisect --check "$check" --scan > "$work/scan.json"
e=$(date +%s.%N)
python3 -c "import json,sys; r=json.load(open(sys.argv[1])); print(f\"scan: {r['checks_run']} checks\")" "$work/scan.json"
echo "bisect --scan wall time: $(echo "$e - $s" | bc) s"

# history over the same 64 backups: every row of `files` streamed in key order and digested.
s=$(date +%s.%N)
/usr/bin/time -f "%M" -o "$work/rss" "$LASTGOOD" --quiet --json --repo "$work/repo" history --table files --column filename > "$work/history.json"
e=$(date +%s.%N)
python3 -c "import json,sys; r=json.load(open(sys.argv[1])); print(f\"history: {len(r['entries'])} backups, column changed in {r['changes']}\")" "$work/history.json"
echo "history wall time (first run, 64 x 1M rows): $(echo "$e - $s" | bc) s, peak RSS $(( $(cat "$work/rss") / 1024 )) MB"
s=$(date +%s.%N)
"$LASTGOOD" --quiet --json --repo "$work/repo" history --table files --column filename > /dev/null
e=$(date +%s.%N)
echo "history wall time (cached): $(echo "$e - $s" | bc) s"
