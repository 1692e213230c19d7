#!/usr/bin/env bash
# Side-by-side benchmark of `cutover db copy` (issue 3): pgbench data at
# SCALE on a source cluster, copied in one run by cutover, by pg_dump -Fd -j2
# + pg_restore -j2, and by pgcopydb clone --table-jobs 2 --index-jobs 2, each
# into a fresh database of a second cluster on the same machine; then the
# time of `cutover db verify`. Prints a Markdown table with ratios.
#   SCALE=100 bench/db.sh
set -euo pipefail
cd "$(dirname "$0")/.."
SCALE=${SCALE:-100}
JOBS=${JOBS:-2}
OUT=${OUT:-$PWD/bench/out/db}
BIN=$PWD/bin/cutover
. bench/lib.sh
rm -rf "$OUT"; mkdir -p "$OUT"; chmod 755 "$OUT"
P1=$(free_port); start_pg "$OUT/pg/src" "$P1"
P2=$(free_port); start_pg "$OUT/pg/dst" "$P2"
trap stop_pgs EXIT
SRC="postgres://postgres@127.0.0.1:$P1/bench?sslmode=disable"
tgt() { echo "postgres://postgres@127.0.0.1:$P2/$1?sslmode=disable"; }
psql -X -q -d "postgres://postgres@127.0.0.1:$P1/postgres" -c "CREATE DATABASE bench"
echo "pgbench -i -s $SCALE ..." >&2
pgbench -i -q -s "$SCALE" --foreign-keys "$SRC" > "$OUT/pgbench.log" 2>&1
psql -X -q -d "$SRC" -c "VACUUM ANALYZE"
SIZE=$(psql -X -At -d "$SRC" -c "SELECT pg_database_size('bench')")
newdb() { psql -X -q -d "postgres://postgres@127.0.0.1:$P2/postgres" -c "CREATE DATABASE $1"; }
settle() { sync; psql -X -q -d "postgres://postgres@127.0.0.1:$P2/postgres" -c "CHECKPOINT"; psql -X -q -d "$SRC" -c "CHECKPOINT"; }

settle; newdb t_cut
T_CUT=$(secs "$BIN" db copy --source "$SRC" --target "$(tgt t_cut)" --jobs "$JOBS" --verify none --state "$OUT/state" --report "$OUT/cut.json")
settle
T_VERIFY=$(secs "$BIN" db verify --source "$SRC" --target "$(tgt t_cut)" --jobs "$JOBS" --state "$OUT/state" --report "$OUT/verify.json")

if [ -n "${VARIANTS:-}" ]; then   # e.g. VARIANTS="--split-larger-than=100GB|--copy-format=binary"
  IFS='|' read -ra vs <<< "$VARIANTS"
  i=0
  for v in "${vs[@]}"; do
    i=$((i+1)); settle; newdb "t_var$i"
    # shellcheck disable=SC2086
    t=$(CUTOVER_CPUPROFILE="$OUT/var$i.prof" secs "$BIN" db copy --source "$SRC" --target "$(tgt t_var$i)" --jobs "$JOBS" --verify none --state "$OUT/state$i" --report "$OUT/var$i.json" $v)
    echo "variant $v: $t s $(python3 -c "import json;r=json.load(open('$OUT/var$i.json'));print(r['phases_s'])")"
  done
  [ -n "${ONLY_VARIANTS:-}" ] && exit 0
fi

settle; newdb t_pgd
dump_restore() {
  rm -rf "$OUT/dump"
  pg_dump -Fd -j "$JOBS" -f "$OUT/dump" "$SRC" && pg_restore -j "$JOBS" --no-owner -d "$(tgt t_pgd)" "$OUT/dump"
}
T_PGD=$(secs dump_restore)

settle; newdb t_pgc
T_PGC=$(secs pgcopydb clone --source "$SRC" --target "$(tgt t_pgc)" --table-jobs "$JOBS" --index-jobs "$JOBS" --dir "$OUT/pgcopydb" --no-owner --no-acl)

echo
echo "pgbench scale $SCALE: $(printf "%'d" "$SIZE") bytes on the source; $JOBS jobs; both clusters on this machine"
echo
echo "| tool | time (s) | cutover/tool | target |"
echo "|---|---|---|---|"
echo "| cutover db copy (--verify none) | $T_CUT | | |"
echo "| pg_dump -Fd -j$JOBS + pg_restore -j$JOBS | $T_PGD | $(ratio "$T_CUT" "$T_PGD") | ≤ 0.7 |"
echo "| pgcopydb clone --table-jobs $JOBS --index-jobs $JOBS | $T_PGC | $(ratio "$T_CUT" "$T_PGC") | ≤ 0.9 |"
echo "| cutover db verify | $T_VERIFY | verify/copy $(ratio "$T_VERIFY" "$T_CUT") | ≤ 1.0 |"
python3 -c "import json;r=json.load(open('$OUT/cut.json'));print('cutover phases:', r['phases_s'])"
