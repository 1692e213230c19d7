#!/usr/bin/env bash
# Side-by-side benchmark of `cutover db copy` (issue 3): pgbench data at
# SCALE on a source cluster, copied in one run by cutover, by pg_dump -Fd -j2
# + pg_restore -j2, and by pgcopydb clone --table-jobs 2 --index-jobs 2, each
# into a fresh database of a second cluster on the same machine; then the
# time of `cutover db verify`; after an untimed warm-up copy, ROUNDS times in
# a rotated order. Prints a Markdown table of medians with ratios.
#   SCALE=100 ROUNDS=3 bench/db.sh
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

# One untimed copy first, then dropped: a fresh cluster creates and
# zero-fills its WAL segments the first time it writes that much, later
# writes recycle them, and whichever tool ran first paid for it (cutover's
# data phase at scale 50: 5.5-5.8 s first, 3.0-3.5 s after).
settle; newdb t_warm
"$BIN" db copy --source "$SRC" --target "$(tgt t_warm)" --jobs "$JOBS" --verify none --state "$OUT/state-warm" > "$OUT/warm.log" 2>&1
psql -X -q -d "postgres://postgres@127.0.0.1:$P2/postgres" -c "DROP DATABASE t_warm"

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

dump_restore() {
  rm -rf "$OUT/dump"
  pg_dump -Fd -j "$JOBS" -f "$OUT/dump" "$SRC" && pg_restore -j "$JOBS" --no-owner -d "$(tgt "$1")" "$OUT/dump"
}
# run TOOL ROUND: one timed copy into a new database, into T[TOOL].
declare -A T
run() {
  local db="t_$1_$2"
  settle; newdb "$db"
  case $1 in
    cut) T[cut]+=" $(secs "$BIN" db copy --source "$SRC" --target "$(tgt "$db")" --jobs "$JOBS" --verify none --state "$OUT/state-$2" --report "$OUT/cut.json")"
      settle
      T[verify]+=" $(secs "$BIN" db verify --source "$SRC" --target "$(tgt "$db")" --jobs "$JOBS" --state "$OUT/state-$2" --report "$OUT/verify.json")" ;;
    pgd) T[pgd]+=" $(secs dump_restore "$db")" ;;
    pgc) T[pgc]+=" $(secs pgcopydb clone --source "$SRC" --target "$(tgt "$db")" --table-jobs "$JOBS" --index-jobs "$JOBS" --dir "$OUT/pgcopydb-$2" --no-owner --no-acl)" ;;
  esac
  psql -X -q -d "postgres://postgres@127.0.0.1:$P2/postgres" -c "DROP DATABASE $db"
}
# Each tool ROUNDS times, in an order rotated each round; medians below.
ROUNDS=${ROUNDS:-3}
for round in $(seq "$ROUNDS"); do
  order=$(rotated "$round" cut pgd pgc)
  for t in $order; do run "$t" "$round"; done
  echo "round $round: cutover${T[cut]}, pg_dump/pg_restore${T[pgd]}, pgcopydb${T[pgc]}, verify${T[verify]}" >&2
done
T_CUT=$(median "${T[cut]}"); T_PGD=$(median "${T[pgd]}"); T_PGC=$(median "${T[pgc]}"); T_VERIFY=$(median "${T[verify]}")

echo
echo "pgbench scale $SCALE: $(printf "%'d" "$SIZE") bytes on the source; $JOBS jobs; both clusters on this machine; median of $ROUNDS rounds (cutover${T[cut]}; pg_dump/pg_restore${T[pgd]}; pgcopydb${T[pgc]}; verify${T[verify]})"
echo
echo "| tool | time (s) | cutover/tool | target |"
echo "|---|---|---|---|"
echo "| cutover db copy (--verify none) | $T_CUT | | |"
echo "| pg_dump -Fd -j$JOBS + pg_restore -j$JOBS | $T_PGD | $(ratio "$T_CUT" "$T_PGD") | ≤ 0.7 |"
echo "| pgcopydb clone --table-jobs $JOBS --index-jobs $JOBS | $T_PGC | $(ratio "$T_CUT" "$T_PGC") | ≤ 0.9 |"
echo "| cutover db verify | $T_VERIFY | verify/copy $(ratio "$T_VERIFY" "$T_CUT") | ≤ 1.0 |"
python3 -c "import json;r=json.load(open('$OUT/cut.json'));print('cutover phases:', r['phases_s'])"
