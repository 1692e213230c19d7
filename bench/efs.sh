#!/usr/bin/env bash
# `cutover files sync`, rsync -a and rclone copy onto a stand-in for Amazon
# EFS: each tool's target is its own fresh ext4 filesystem seen through
# latfs (bench/latfs), a FUSE loopback that makes every metadata request,
# open and close wait LAT, as a round trip to the NFS server would. No NFS
# server can run on this machine and EFS is out of reach; what makes EFS
# slow for a copy is that latency, and the lever against it is parallelism
# (../shared/FILES.md). Phases as in bench/files.sh, warm: (a) full copy,
# (b) rerun with nothing changed, (c) rerun after changing 1% of the files;
# cutover with its defaults (it reads back what it wrote, from the server:
# the FUSE mount counts as a network filesystem), with --verify none, and
# with --delete (the final's mirror, which lists the target).
# With SIDE=source the latency is on the source instead: the shared home
# the sshd serves is a latfs mount (as a Data Center shared home is an NFS
# mount on the VM), and each tool writes to a fresh local filesystem.
#   FILES=2000 LAT=1ms [SIDE=source] bench/efs.sh
set -euo pipefail
cd "$(dirname "$0")/.."
FILES=${FILES:-2000}
LAT=${LAT:-1ms}
SIDE=${SIDE:-target}
OUT=${OUT:-$PWD/bench/out-efs-$SIDE}
BIN=$PWD/bin/cutover
for m in "$OUT"/dst-* "$OUT"/back-* "$OUT"/src; do mountpoint -q "$m" 2>/dev/null && umount "$m" || true; done
rm -rf "$OUT"; mkdir -p "$OUT"
SRC=$OUT/src
GEN=$SRC
[ "$SIDE" = source ] && GEN=$OUT/back-src

go run ./bench/gentree -out "$GEN" -files "$FILES"
go build -o "$OUT/latfs" ./bench/latfs

. bench/lib.sh
start_sshd "$OUT/sshd"
plain_user

TOOLS="cutover cutover-nv cutover-del rsync rclone"
LATFS=()
cleanup() {
  kill $SSHD 2>/dev/null || true
  for p in "${LATFS[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${LATFS[@]}"; do wait "$p" 2>/dev/null || true; done
  cleanup_fs
}
trap cleanup EXIT
MNTS=()
if [ "$SIDE" = source ]; then
  mkdir -p "$SRC"; chmod 755 "$OUT"
  "$OUT/latfs" -lat "$LAT" "$OUT/back-src" "$SRC" & LATFS+=($!); MNTS+=("$SRC")
  for t in $TOOLS; do fresh_fs "$OUT/dst-$t"; done
else
  for t in $TOOLS; do
    fresh_fs "$OUT/back-$t"
    mkdir -p "$OUT/dst-$t"
    "$OUT/latfs" -lat "$LAT" "$OUT/back-$t" "$OUT/dst-$t" & LATFS+=($!); MNTS+=("$OUT/dst-$t")
  done
fi
for m in "${MNTS[@]}"; do
  for _ in $(seq 50); do mountpoint -q "$m" && break; sleep 0.1; done
  mountpoint -q "$m" || { echo "latfs did not mount $m" >&2; exit 1; }
done

prep() { sync; echo 3 > /proc/sys/vm/drop_caches 2>/dev/null || true; cat $(find "$GEN" -type f) > /dev/null 2>&1 || true; }

PHASES="full nochange change"
declare -A T
for phase in $PHASES; do
  case $phase in change*) go run ./bench/gentree -out "$GEN" -change 0.01 ;; esac
  prep; T[cutover,$phase]=$(secs cut_sync "$OUT/dst-cutover" "$OUT/state-cutover")
  prep; T[cutover_nv,$phase]=$(secs cut_sync "$OUT/dst-cutover-nv" "$OUT/state-cutover-nv" --verify none)
  prep; T[cutover_del,$phase]=$(secs cut_sync "$OUT/dst-cutover-del" "$OUT/state-cutover-del" --delete)
  prep; T[rsync,$phase]=$(secs rsync_sync "$OUT/dst-rsync")
  prep; T[rclone,$phase]=$(secs rclone_sync "$OUT/dst-rclone")
  echo "$phase: cutover ${T[cutover,$phase]}s, --verify none ${T[cutover_nv,$phase]}s, --delete ${T[cutover_del,$phase]}s, rsync ${T[rsync,$phase]}s, rclone ${T[rclone,$phase]}s" >&2
done
"$BIN" files verify "$SRC" "$OUT/dst-cutover" > /dev/null || { echo "cutover's target differs from the source" >&2; exit 1; }

BYTES=$(du -sb "$GEN" | cut -f1)
{
  where="onto an EFS stand-in"; [ "$SIDE" = source ] && where="from an NFS-mounted shared home (stand-in)"
  echo "### files sync $where (latfs, $LAT per request): $FILES files, $(echo "$BYTES/1000000" | bc -l | xargs printf '%.0f') MB, loopback sshd, $(nproc) cores ($(date -u +%Y-%m-%d))"
  echo
  echo "| phase | cutover (verify) | cutover --verify none | cutover --delete | rsync -a | rclone copy | cutover/rsync | cutover/rclone |"
  echo "|---|---|---|---|---|---|---|---|"
  for phase in $PHASES; do
    echo "| $phase | ${T[cutover,$phase]} s | ${T[cutover_nv,$phase]} s | ${T[cutover_del,$phase]} s | ${T[rsync,$phase]} s | ${T[rclone,$phase]} s | $(ratio ${T[cutover,$phase]} ${T[rsync,$phase]}) | $(ratio ${T[cutover,$phase]} ${T[rclone,$phase]}) |"
  done
} | tee "$OUT/efs-$SIDE.md"
