#!/usr/bin/env bash
# Accuracy of the planner (issue 5): FILES files served by a loopback sshd
# plus pgbench at SCALE, driven by a cutover.yaml: presync twice (the first is
# the bulk copy), the sources change (1% of the files, some rows), then
# `cutover plan` predicts the final window and `cutover final` measures it.
# Prints predicted against actual. CHECK=F sets verify_sample: F, so that
# the final also compares that share of the files' content after its delta
# (1: all of them).
#   FILES=20000 SCALE=50 CHECK=1 bench/plan.sh
set -euo pipefail
cd "$(dirname "$0")/.."
FILES=${FILES:-20000}
SCALE=${SCALE:-50}
CHECK=${CHECK:-0}
OUT=${OUT:-$PWD/bench/out/plan}
BIN=${BIN:-$PWD/bin/cutover}
. bench/lib.sh
rm -rf "$OUT"; mkdir -p "$OUT"; chmod 755 "$OUT"
go run ./bench/gentree -out "$OUT/shared" -files "$FILES" >&2
start_sshd "$OUT/sshd"
P1=$(free_port); start_pg "$OUT/pg/vm" "$P1"
P2=$(free_port); start_pg "$OUT/pg/rds" "$P2"
trap 'kill $SSHD 2>/dev/null || true; stop_pgs' EXIT
VM="postgres://postgres@127.0.0.1:$P1"
RDS="postgres://postgres@127.0.0.1:$P2"
psql -X -q -d "$VM/postgres" -c "CREATE DATABASE jiradb"
for db in jiradb rehearsal; do psql -X -q -d "$RDS/postgres" -c "CREATE DATABASE $db"; done
echo "pgbench -i -s $SCALE ..." >&2
pgbench -i -q -s "$SCALE" --foreign-keys "$VM/jiradb?sslmode=disable" > "$OUT/pgbench.log" 2>&1
cat > "$OUT/cutover.yaml" <<CFG
state: ./state
workers: 16
jobs: 2
max_delete: 10000
verify: transferred
verify_sample: $CHECK
quiet_minutes: 0
files:
  - name: shared-home
    source: sftp://$USER_NAME@127.0.0.1:$PORT$OUT/shared
    target: ./efs/shared
    ssh_key: $S/client_key
    known_hosts: $S/known_hosts
databases:
  - name: jira
    source: $VM/jiradb?sslmode=disable
    target: $RDS/jiradb?sslmode=disable
    rehearsal_target: $RDS/rehearsal?sslmode=disable
CFG
C="$OUT/cutover.yaml"
for i in 1 2; do
  echo "presync $i ..." >&2
  "$BIN" presync -c "$C" --report "$OUT/presync-$i.json" > "$OUT/presync-$i.md" 2> "$OUT/presync-$i.log"
done
echo "changing 1% of the files and some rows ..." >&2
go run ./bench/gentree -out "$OUT/shared" -change 0.01 >&2
psql -X -q -d "$VM/jiradb?sslmode=disable" -c "UPDATE pgbench_accounts SET abalance = abalance + 1 WHERE aid % 100 = 0"
"$BIN" plan -c "$C" --report "$OUT/plan.json" > "$OUT/plan.md" 2> "$OUT/plan.log"
"$BIN" final -c "$C" --report "$OUT/final.json" > "$OUT/final.md" 2> "$OUT/final.log"
python3 - "$OUT" <<'PY'
import json, sys
out = sys.argv[1]
plan = json.load(open(out + "/plan.json"))
final = json.load(open(out + "/final.json"))
pred, act = plan["window_s"], final["actual_s"]
print(f"final window: predicted {pred:.1f} s ({plan['window_low_s']:.1f}–{plan['window_high_s']:.1f} s, {plan['window_basis']}), "
      f"measured {act:.1f} s: error {100 * (pred - act) / act:+.0f}% (target ±20%); verdict {final['verdict']}")
fin = {p["kind"] + " " + p["name"]: p for p in final["parts"]}
for ph in plan["phases"]:
    if ph["name"] == "final":
        for p in ph["parts"]:
            f = fin.get(p["kind"] + " " + p["name"], {})
            print(f"  {p['kind']} {p['name']}: predicted {p['estimate_s']:.1f} s, measured {f.get('actual_s', 0):.1f} s ({p['basis']})")
PY
