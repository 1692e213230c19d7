#!/usr/bin/env bash
# Side-by-side benchmark of `cutover index ship` (issue 4): a ~1 GB index made
# by real Lucene 8.8 (Debian liblucene8-java) is installed on a target; then a
# small batch of documents is indexed at the source (a new small segment and a
# .liv of deletions in the big one), and in one run: the delta ship, rsync -a
# --delete of the directory, and a full copy (cp -a, and cutover into an empty
# target). Also footer-only `index verify` and `verify --full` throughput.
# Local to local, page cache warm for every tool. Prints a Markdown table.
#   DOCS=100000 COPIES=4 bench/index.sh
set -euo pipefail
cd "$(dirname "$0")/.."
DOCS=${DOCS:-100000}      # 8 KiB documents indexed once (~1.1 GB of text)
COPIES=${COPIES:-4}       # that index merged COPIES times into one (~1 GB)
OUT=${OUT:-$PWD/bench/out/index}
CACHE=${CACHE:-$PWD/.cache/bench-index-$DOCS-$COPIES}
BIN=$PWD/bin/cutover
J=/usr/share/java
CP=$(ls $J/lucene-core-8*.jar $J/lucene-demo-8*.jar $J/lucene-analyzers-common-8*.jar $J/lucene-queryparser-8*.jar $J/lucene-misc-8*.jar | tr '\n' ':')
indexfiles() { java -cp "$CP" org.apache.lucene.demo.IndexFiles "$@" > /dev/null; }

if [ ! -f "$CACHE/ready" ]; then
  echo "building the benchmark index in $CACHE (once)" >&2
  rm -rf "$CACHE"; mkdir -p "$CACHE"
  go run ./bench/lucenedocs -out "$CACHE/docs/bulk" -docs "$DOCS" -size 8192 -seed 1
  go run ./bench/lucenedocs -out "$CACHE/docs/small" -docs 100 -size 4096 -seed 2
  indexfiles -index "$CACHE/part0" -docs "$CACHE/docs"
  parts=("$CACHE/part0")
  for i in $(seq 1 $((COPIES - 1))); do
    cp -a "$CACHE/part0" "$CACHE/part$i"; rm -f "$CACHE/part$i/write.lock"; parts+=("$CACHE/part$i")
  done
  java -cp "$CP" org.apache.lucene.misc.IndexMergeTool "$CACHE/base" "${parts[@]}" > /dev/null
  rm -rf "${parts[@]}"
  touch "$CACHE/ready"
fi

rm -rf "$OUT"; mkdir -p "$OUT"
SRC=$OUT/src
cp -a "$CACHE/base" "$SRC"
secs() { local t0 t1; t0=$(date +%s.%N); "$@" > "$OUT/last.log" 2>&1 || { echo "FAILED: $*" >&2; tail -20 "$OUT/last.log" >&2; exit 1; }; t1=$(date +%s.%N); echo "$t1 - $t0" | bc -l | xargs printf '%.3f'; }
ratio() { echo "$1 / $2" | bc -l | xargs printf '%.3f'; }

SIZE=$(du -sb "$SRC" | cut -f1)
# Initial state: both targets hold the index as it was.
"$BIN" index ship "$SRC" "$OUT/cut" > /dev/null 2>&1
rsync -a --delete "$SRC/" "$OUT/rsync/"
cat "$SRC"/* > /dev/null

T_VERIFY=$(secs "$BIN" index verify "$SRC")
T_FULL_VERIFY=$(secs "$BIN" index verify --full "$SRC")

# A small batch at the source: 100 documents re-indexed (deletions in the big
# segment, a .liv) as a new small segment.
go run ./bench/lucenedocs -out "$CACHE/docs/small" -docs 100 -size 4096 -seed $RANDOM > /dev/null
indexfiles -index "$SRC" -docs "$CACHE/docs/small" -update
cat "$SRC"/* > /dev/null

# Every timed step starts with nothing dirty in the page cache, so that
# durable writers (cutover fsyncs what it installs) do not pay for others.
sync
T_CUT=$(secs "$BIN" index ship "$SRC" "$OUT/cut" --report "$OUT/ship.json")
sync
T_RSYNC=$(secs rsync -a --delete "$SRC/" "$OUT/rsync/")
sync
T_CP=$(secs cp -a "$SRC" "$OUT/full-cp")
sync
T_CP_SYNC=$(secs sh -c "cp -a '$SRC' '$OUT/full-cp-sync' && sync -f '$OUT/full-cp-sync'")
sync
T_CUT_FULL=$(secs "$BIN" index ship "$SRC" "$OUT/cut-full")
SHIPPED=$(python3 -c "import json;r=json.load(open('$OUT/ship.json'));t=r['totals'];print(t['files_shipped'],t['bytes_shipped'],t['files_reused'])")
java -cp "$CP" org.apache.lucene.index.CheckIndex "$OUT/cut" > "$OUT/checkindex.log" 2>&1 || { echo "CheckIndex failed on the shipped index" >&2; tail "$OUT/checkindex.log" >&2; exit 1; }

GBS=$(echo "$SIZE / $T_FULL_VERIFY / 1000000000" | bc -l | xargs printf '%.2f')
echo
echo "index: $(printf "%'d" "$SIZE") bytes, $(ls "$SRC" | wc -l) files; delta: files shipped, bytes shipped, files reused = $SHIPPED"
echo
echo "| run | time (s) | ratio | target |"
echo "|---|---|---|---|"
echo "| cutover index ship (delta) | $T_CUT | | < 1 s |"
echo "| rsync -a --delete (delta) | $T_RSYNC | cutover/rsync $(ratio "$T_CUT" "$T_RSYNC") | |"
echo "| cp -a (full copy, left in the page cache) | $T_CP | full/cutover $(ratio "$T_CP" "$T_CUT") | ≥ 10 |"
echo "| cp -a + sync (full copy, durable) | $T_CP_SYNC | full/cutover $(ratio "$T_CP_SYNC" "$T_CUT") | ≥ 10 |"
echo "| cutover index ship into an empty target (full) | $T_CUT_FULL | full/cutover-delta $(ratio "$T_CUT_FULL" "$T_CUT") | |"
echo "| cutover index verify (footers) | $T_VERIFY | | < 0.2 s |"
echo "| cutover index verify --full | $T_FULL_VERIFY | $GBS GB/s | ≥ 1 GB/s |"
