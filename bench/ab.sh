#!/usr/bin/env bash
# A/B rounds of bench/files.sh's full copy, to weigh one build or flag of
# cutover against another, and against rsync, on one machine at one time.
# `make bench-files` runs every tool in every phase three times; between its
# runs the same code moves by ±10%, more than most changes make, so a
# change is judged here: many short rounds, the variants side by side.
#
# Each variant copies the same generated tree (FILES files, log-normal
# sizes) from a loopback sshd onto an ext4 of its own on a loop device.
# The image under it is written out once (a real disk has no holes for the
# host to fill on first write; a sparse image charges that to whoever
# syncs, and cutover syncs before it records) and made anew before every
# round. The variants run in a rotated order; before each, the page cache
# is dropped and the source read back into it.
#
#   VARIANTS='main|bin/cutover
#   new|GODEBUG=madvdontneed=0 /tmp/cutover-new --workers 8
#   rsync|rsync' ROUNDS=6 bench/ab.sh
#
# A variant is NAME|COMMAND: `rsync` (rsync -a over ssh), or a cutover
# binary with flags for `files sync`, after any VAR=value words for its
# environment. Prints each round, then each variant's times, CPU (both
# cores, from /proc/stat) and median, and its median over the first
# variant's. Needs root (losetup, drop_caches).
set -euo pipefail
cd "$(dirname "$0")/.."
FILES=${FILES:-20000}
ROUNDS=${ROUNDS:-6}
OUT=${OUT:-$PWD/bench/out-ab}
VARIANTS=${VARIANTS:-"main|bin/cutover
rsync|rsync"}
[ "$(id -u)" -eq 0 ] || { echo "bench/ab.sh needs root (losetup, drop_caches)" >&2; exit 2; }
. bench/lib.sh
mkdir -p "$OUT"
SRC=$OUT/src
[ -d "$SRC" ] || go run ./bench/gentree -out "$SRC" -files "$FILES"
rm -rf "$OUT/sshd"; start_sshd "$OUT/sshd"
plain_user
mapfile -t V < <(grep . <<< "$VARIANTS")
names=(); for v in "${V[@]}"; do names+=("${v%%|*}"); done

# mkfs_on NAME: a new ext4 at $OUT/dst-NAME on its image (written out
# below, before the first round), without discard (which would punch the
# image's blocks out again).
IMG_MB=$(( $(du -sm "$SRC" | cut -f1) * 3 + 512 ))
mkfs_on() {
  local d=$OUT/dst-$1 im=$OUT/dst-$1.img dev
  unmount_fs "$d"
  mkfs.ext4 -q -F -E lazy_itable_init=0,lazy_journal_init=0,nodiscard "$im"
  dev=$(losetup --direct-io=on -f --show "$im")
  mkdir -p "$d"; mount "$dev" "$d"; rmdir "$d/lost+found"; rm -rf "$d-state"
}
cleanup() {
  kill "$SSHD" 2>/dev/null || true
  for n in "${names[@]}"; do
    unmount_fs "$OUT/dst-$n"
    [ -n "${KEEP:-}" ] || rm -f "$OUT/dst-$n.img"
  done
}
trap cleanup EXIT

cpu() { awk '/^cpu /{print $2+$3+$4+$7+$8}' /proc/stat; } # busy ticks, both cores
# run I: one timed copy of variant I, printed as "SECONDS CPU".
run() {
  local name=${V[$1]%%|*} cmd=${V[$1]#*|} d env=() words c0 t0 t1 c1
  d=$OUT/dst-$name
  mkfs_on "$name"
  sync; echo 3 > /proc/sys/vm/drop_caches
  find "$SRC" -type f -exec cat {} + > /dev/null; find "$d" > /dev/null
  read -ra words <<< "$cmd"
  while [[ ${words[0]} == *=* ]]; do env+=("${words[0]}"); words=("${words[@]:1}"); done
  c0=$(cpu); t0=$(date +%s.%N)
  if [ "${words[0]}" = rsync ]; then
    rsync_sync "$d" > "$OUT/log-$name" 2>&1
  else
    env "${env[@]}" "${words[0]}" files sync "sftp://$USER_NAME@127.0.0.1:$PORT$SRC" "$d" --state "$d-state" \
      --ssh-key "$S/client_key" --known-hosts "$S/known_hosts" "${words[@]:1}" > "$OUT/log-$name" 2>&1
  fi || { echo "variant $name failed:" >&2; tail -20 "$OUT/log-$name" >&2; exit 1; }
  t1=$(date +%s.%N); c1=$(cpu)
  printf '%.2f %.1f\n' "$(echo "$t1 - $t0" | bc -l)" "$(echo "($c1 - $c0) / $(getconf CLK_TCK)" | bc -l)"
}

# Every image written out before the first round (written in a variant's
# first round, it was still being flushed while that round ran), then the
# host left to settle.
for n in "${names[@]}"; do
  im=$OUT/dst-$n.img
  [ -f "$im" ] || dd if=/dev/zero of="$im" bs=4M count=$(( IMG_MB / 4 )) conv=fsync status=none
done
settle

declare -A T C
for r in $(seq "$ROUNDS"); do
  for i in $(rotated "$r" "${!V[@]}"); do
    out=$(run "$i"); read -r t c <<< "$out"
    T[$i]+=" $t"; C[$i]+=" $c"
    echo "round $r ${names[$i]}: $t s, CPU $c s" >&2
  done
done
first=$(median "${T[0]}")
echo "| variant | median | each round (s) | CPU (s) | ratio to ${names[0]} |"
echo "|---|---|---|---|---|"
for i in "${!V[@]}"; do
  m=$(median "${T[$i]}")
  echo "| ${names[$i]} | $m s |${T[$i]} |${C[$i]} | $(ratio "$m" "$first") |"
done
