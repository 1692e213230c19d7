#!/usr/bin/env bash
# Side-by-side benchmark of `cutover files sync` against rsync -a over ssh and
# rclone copy (sftp backend), on one generated tree served by a loopback sshd,
# in one run: (a) full copy into an empty target, (b) rerun with nothing
# changed, (c) rerun after changing 1% of the files; each with the page
# cache warm and cold, ROUNDS times each; then (d) `files verify` against
# rsync -a -c -n and rclone check --download, warm and cold. Then the memory
# of a 10^6-entry sync. Prints Markdown tables with median times and
# cutover/peer ratios. PHASES picks phases of (a)-(c) (full first).
#   FILES=20000 ROUNDS=3 MILLION=1 [PHASES=full] bench/files.sh
set -euo pipefail
cd "$(dirname "$0")/.."
FILES=${FILES:-20000}
MILLION=${MILLION:-1}
OUT=${OUT:-$PWD/bench/out}
BIN=$PWD/bin/cutover
for m in "$OUT"/dst-*; do mountpoint -q "$m" 2>/dev/null && umount "$m" || true; done
rm -rf "$OUT"; mkdir -p "$OUT"
SRC=$OUT/src

go run ./bench/gentree -out "$SRC" -files "$FILES"

# A loopback sshd with fresh keys.
. bench/lib.sh
start_sshd "$OUT/sshd"
plain_user

# Warm the page cache once so that every tool reads the source from memory.
cat $(find "$SRC" -type f) > /dev/null 2>&1 || find "$SRC" -type f -exec cat {} + > /dev/null


# Each tool writes to its own freshly made ext4 filesystem (fresh_fs, in
# lib.sh).
cleanup() { kill $SSHD 2>/dev/null || true; cleanup_fs; }
trap cleanup EXIT
for t in cutover cutover-nv rsync rclone; do fresh_fs "$OUT/dst-$t"; fresh_fs "$OUT/dst-$t-cold"; done
# dst TOOL: the target of this phase; the cold full copy has its own.
dst() { case $phase in full-cold) echo "$OUT/dst-$1-cold" ;; *) echo "$OUT/dst-$1" ;; esac; }

# One untimed copy first: the page cache of the first run that writes the
# tree grows into guest memory never touched before, a host fault per page,
# and whichever tool ran first took up to 25% longer (cutover, which runs
# first in each phase, measured 5.2-5.5 s where its later runs took 4.3 s).
fresh_fs "$OUT/warmup"
cp -a "$SRC/." "$OUT/warmup/"
settle

# Before each run: the previous run's writes flushed (so its writeback does
# not slow the next tool) and the page cache dropped, then the source
# content and the target's metadata read into it (rsync and rclone list the
# target; cutover does not). Dropping matters on a VM: a page cache that
# grows into guest memory never touched before costs the host a fault per
# page, and made whichever tool ran later up to 50% slower.
# The cold phases run with nothing in the page cache, on either side: the
# first rehearsal of the day on a VM whose page cache does not hold its
# shared home's inodes, and a first copy of a shared home larger than the
# VM's memory, read from its disk.
prep() {
  sync; echo 3 > /proc/sys/vm/drop_caches 2>/dev/null || true
  case $phase in *cold) return ;; esac
  cat $(find "$SRC" -type f) > /dev/null 2>&1 || true; find "$1" > /dev/null
}

# Each phase runs ROUNDS times, the tools in a rotated order each round (the
# first run after the source's cache is warmed tends to be the slowest), and
# the table gives each tool's median and cutover/rsync round by round. A full
# copy round starts from new empty targets; a change round changes another
# 1% of the files, the same for every tool.
ROUNDS=${ROUNDS:-3}
PHASES=${PHASES:-full full-cold nochange nochange-cold change change-cold}
TOOLS="cutover cutover_nv rsync rclone"
declare -A T
# run TOOL: one timed run of TOOL in this phase, into T[TOOL,phase].
run() {
  local d
  case $1 in
    cutover) d=$(dst cutover); prep "$d"; T[$1,$phase]+=" $(secs cut_sync "$d" "$d-state")" ;;
    cutover_nv) d=$(dst cutover-nv); prep "$d"; T[$1,$phase]+=" $(secs cut_sync "$d" "$d-state" --verify none)" ;;
    rsync) d=$(dst rsync); prep "$d"; local t; t=$(secs rsync_sync "$d"); T[rsync,$phase]+=" $t"
      # rsync leaves its writes in the page cache; cutover makes them
      # durable before it records them. For reference: rsync until its
      # data is on disk.
      T[rsyncd,$phase]+=" $(echo "$t + $(secs sync -f "$d")" | bc -l | xargs printf '%.2f')" ;;
    rclone) d=$(dst rclone); prep "$d"; T[$1,$phase]+=" $(secs rclone_sync "$d")" ;;
  esac
}
for phase in $PHASES; do
  for round in $(seq "$ROUNDS"); do
    case $phase in
      change*) go run ./bench/gentree -out "$SRC" -change 0.01 ;;
      full*) [ "$round" = 1 ] || for t in cutover cutover-nv rsync rclone; do refresh_fs "$(dst $t)"; rm -rf "$(dst $t)-state"; done ;;
    esac
    order=$(rotated "$round" $TOOLS)
    for t in $order; do run "$t"; done
  done
  # The cold copy's target is checked now: the later phases change the
  # source and update only the warm ones.
  [ $phase = full-cold ] && { "$BIN" files verify "$SRC" "$(dst cutover)" > /dev/null || { echo "cutover's cold-copied target differs from the source" >&2; exit 1; }; }
  echo "$phase: cutover${T[cutover,$phase]} s, cutover --verify none${T[cutover_nv,$phase]} s, rsync${T[rsync,$phase]} s, rclone${T[rclone,$phase]} s" >&2
done
"$BIN" files verify "$SRC" "$OUT/dst-cutover" > /dev/null || { echo "cutover's target differs from the source" >&2; exit 1; }

# (d) The strongest check, every byte of both sides as they are now, on
# cutover's warm target (equal to the source by now): `cutover files
# verify` (SHA-256 on both sides, the source's computed on its host)
# against rsync -a -c -n (a checksum of every file on each side, xxh128
# where both ends have rsync 3.2) and rclone check --download (reads both
# sides here); with the page cache holding both trees, and cold.
vprep() {
  sync; echo 3 > /proc/sys/vm/drop_caches 2>/dev/null || true
  [ "$1" = verify ] && find "$SRC" "$OUT/dst-cutover" -type f -exec cat {} + > /dev/null
  return 0
}
SSHCMD="ssh -p $PORT -i $S/client_key -o UserKnownHostsFile=$S/known_hosts -o BatchMode=yes"
VTOOLS="cutover rsync rclone"
for check in verify verify-cold; do
  for round in $(seq "$ROUNDS"); do
    order=$(rotated "$round" $VTOOLS)
    for t in $order; do
      vprep $check
      case $t in
        cutover) T[cutover,$check]+=" $(secs "$BIN" files verify "sftp://$USER_NAME@127.0.0.1:$PORT$SRC" "$OUT/dst-cutover" --ssh-key "$S/client_key" --known-hosts "$S/known_hosts")" ;;
        rsync) T[rsync,$check]+=" $(secs rsync -a -c -n --delete -e "$SSHCMD" "$USER_NAME@127.0.0.1:$SRC/" "$OUT/dst-cutover/")" ;;
        rclone) T[rclone,$check]+=" $(secs rclone check --download --checkers 16 -q ":sftp,host=127.0.0.1,port=$PORT,user=$USER_NAME,key_file=$S/client_key,known_hosts_file=$S/known_hosts:$SRC" "$OUT/dst-cutover")" ;;
      esac
    done
  done
  echo "$check: cutover${T[cutover,$check]} s, rsync${T[rsync,$check]} s, rclone${T[rclone,$check]} s" >&2
done

BYTES=$(du -sb "$SRC" | cut -f1)
{
  echo "### files sync: $FILES files, $(echo "$BYTES/1000000000" | bc -l | xargs printf '%.2f') GB, loopback sshd, $(nproc) cores ($(date -u +%Y-%m-%d)), median of $ROUNDS rounds"
  echo
  echo "| phase | cutover (verify) | cutover --verify none | rsync -a | rsync -a + sync | rclone copy | cutover/rsync | each round | cutover/(rsync + sync) | cutover/rclone |"
  echo "|---|---|---|---|---|---|---|---|---|---|"
  for phase in $PHASES; do
    declare -A M=()
    for t in $TOOLS rsyncd; do M[$t]=$(median "${T[$t,$phase]}"); done
    read -ra c <<< "${T[cutover,$phase]}"; read -ra r <<< "${T[rsync,$phase]}"
    each=$(for i in "${!c[@]}"; do ratio "${c[$i]}" "${r[$i]}"; echo; done | paste -sd' ')
    echo "| $phase | ${M[cutover]} s | ${M[cutover_nv]} s | ${M[rsync]} s | ${M[rsyncd]} s | ${M[rclone]} s | $(ratio ${M[cutover]} ${M[rsync]}) | $each | $(ratio ${M[cutover]} ${M[rsyncd]}) | $(ratio ${M[cutover]} ${M[rclone]}) |"
  done
  echo
  echo "| check (every byte, both sides) | cutover files verify | rsync -a -c -n | rclone check --download | cutover/rsync | each round | cutover/rclone |"
  echo "|---|---|---|---|---|---|---|"
  for check in verify verify-cold; do
    declare -A M=()
    for t in $VTOOLS; do M[$t]=$(median "${T[$t,$check]}"); done
    read -ra c <<< "${T[cutover,$check]}"; read -ra r <<< "${T[rsync,$check]}"
    each=$(for i in "${!c[@]}"; do ratio "${c[$i]}" "${r[$i]}"; echo; done | paste -sd' ')
    echo "| $check | ${M[cutover]} s | ${M[rsync]} s | ${M[rclone]} s | $(ratio ${M[cutover]} ${M[rsync]}) | $each | $(ratio ${M[cutover]} ${M[rclone]}) |"
  done
} | tee "$OUT/files.md"

if [ "$MILLION" = 1 ]; then
  M=$OUT/million
  go run ./bench/gentree -out "$M" -empty 1000000 >&2
  fresh_fs "$OUT/million-dst" -i 4096 # 2 million inodes
  /usr/bin/time -f '%M %e' -o "$OUT/million.time" "$BIN" files sync "sftp://$USER_NAME@127.0.0.1:$PORT$M" "$OUT/million-dst" \
      --state "$OUT/state-million" --ssh-key "$S/client_key" --known-hosts "$S/known_hosts" > /dev/null 2>&1
  read -r KB SEC < "$OUT/million.time"
  /usr/bin/time -f '%M %e' -o "$OUT/million2.time" "$BIN" files sync "sftp://$USER_NAME@127.0.0.1:$PORT$M" "$OUT/million-dst" \
      --state "$OUT/state-million" --ssh-key "$S/client_key" --known-hosts "$S/known_hosts" > /dev/null 2>&1
  read -r KB2 SEC2 < "$OUT/million2.time"
  # files verify lists both sides and compares every file: the mode that
  # holds the most per entry.
  /usr/bin/time -f '%M %e' -o "$OUT/million3.time" "$BIN" files verify "sftp://$USER_NAME@127.0.0.1:$PORT$M" "$OUT/million-dst" \
      --state "$OUT/state-million" --ssh-key "$S/client_key" --known-hosts "$S/known_hosts" > /dev/null 2>&1
  read -r KB3 SEC3 < "$OUT/million3.time"
  echo
  # GNU time reports KiB; the bound is 500 MB (10^6 bytes).
  echo "10^6 empty files over SFTP: first sync ${SEC} s with $((KB*1024/1000000)) MB max resident; no-change rerun ${SEC2} s with $((KB2*1024/1000000)) MB; files verify ${SEC3} s with $((KB3*1024/1000000)) MB" | tee -a "$OUT/files.md"
  rm -rf "$M"
fi
