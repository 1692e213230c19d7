# Shared by the benchmark scripts (sourced, not run): a loopback sshd, a
# throwaway PostgreSQL cluster, timing.

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# secs CMD…: run CMD with its output in $OUT/last.log, print its wall time.
secs() { local t0 t1; t0=$(date +%s.%N); "$@" > "$OUT/last.log" 2>&1 || { echo "FAILED: $*" >&2; tail -30 "$OUT/last.log" >&2; exit 1; }; t1=$(date +%s.%N); echo "$t1 - $t0" | bc -l | xargs printf '%.2f'; }
ratio() { echo "$1 / $2" | bc -l | xargs printf '%.2f'; }
# median "T1 T2 …": the median of the times.
median() { tr ' ' '\n' <<< "$1" | grep . | sort -n | awk '{a[NR]=$1} END {if (NR % 2) print a[(NR+1)/2]; else printf "%.2f\n", (a[NR/2]+a[NR/2+1])/2}'; }
# rotated ROUND TOOL…: the tools in the order of round ROUND (from 1), each
# round starting one further, so that no tool always runs first.
rotated() { local r=$1; shift; local n=$#; local k=$(( (r - 1) % n )); echo "${@:k+1}" "${@:1:k}"; }

# start_sshd DIR: a loopback sshd with fresh keys; sets S, PORT, SSHD, USER_NAME.
start_sshd() {
  S=$1; mkdir -p "$S"; chmod 755 "$S"; mkdir -p /run/sshd
  ssh-keygen -q -t ed25519 -N '' -f "$S/host_key"
  ssh-keygen -q -t ed25519 -N '' -f "$S/client_key"
  cp "$S/client_key.pub" "$S/authorized_keys"
  PORT=$(free_port)
  cat > "$S/sshd_config" <<CFG
Port $PORT
ListenAddress 127.0.0.1
HostKey $S/host_key
PidFile $S/sshd.pid
AuthorizedKeysFile $S/authorized_keys
StrictModes no
UsePAM no
PasswordAuthentication no
PermitRootLogin prohibit-password
Subsystem sftp internal-sftp
MaxSessions 100
MaxStartups 100:30:200
LogLevel ERROR
CFG
  /usr/sbin/sshd -D -e -f "$S/sshd_config" & SSHD=$!
  sleep 0.5
  echo "[127.0.0.1]:$PORT $(cut -d' ' -f1-2 "$S/host_key.pub")" > "$S/known_hosts"
  USER_NAME=$(id -un)
}

# plain_user: as root, log in to the sshd as a plain user (Debian's default
# shell start-up, as a service account on a VM has) instead of root, whose
# rc files here start pyenv: each tool's every remote command would pay it.
plain_user() {
  [ "$(id -u)" -eq 0 ] || return 0
  id cutoverbench > /dev/null 2>&1 || useradd -m -s /bin/bash cutoverbench
  usermod -p "*" cutoverbench # a locked account is refused even with a key
  USER_NAME=cutoverbench
}

# The tools of the files benchmarks, each from the sshd's $SRC into DIR:
# cut_sync DIR STATE [FLAG…], rsync_sync DIR, rclone_sync DIR.
cut_sync() { "$BIN" files sync "sftp://$USER_NAME@127.0.0.1:$PORT$SRC" "$1" --state "$2" --ssh-key "$S/client_key" --known-hosts "$S/known_hosts" "${@:3}"; }
rsync_sync() { rsync -a --delete -e "ssh -p $PORT -i $S/client_key -o UserKnownHostsFile=$S/known_hosts -o BatchMode=yes" "$USER_NAME@127.0.0.1:$SRC/" "$1/"; }
rclone_sync() {
  rclone copy ":sftp,host=127.0.0.1,port=$PORT,user=$USER_NAME,key_file=$S/client_key,known_hosts_file=$S/known_hosts:$SRC" "$1" \
    --transfers 16 --checkers 16 --sftp-disable-hashcheck --links -q
}

# Each tool writes to its own freshly made ext4 filesystem (a loop device
# with direct I/O, so the loop adds no second page cache): on a filesystem
# where many files were just deleted, ext4 spends seconds of CPU skipping
# recently freed inodes on every create, and whichever tool ran first after
# a deletion would pay for it. Without root or losetup, plain directories.
MOUNTS=(); DEVS=()
fresh_fs() { # DIR [MKFS-OPTION…]
  local dev
  mkdir -p "$1"
  if [ "$(id -u)" -eq 0 ] && command -v losetup > /dev/null && command -v mkfs.ext4 > /dev/null &&
      truncate -s 8G "$1.img" && mkfs.ext4 -q -F -E lazy_itable_init=0,lazy_journal_init=0 "${@:2}" "$1.img" &&
      dev=$(losetup --direct-io=on -f --show "$1.img"); then
    DEVS+=("$dev")
    mount "$dev" "$1" && MOUNTS+=("$1") && rmdir "$1/lost+found" && return
  fi
  echo "note: $1 is a plain directory (no root or losetup): timings include ext4's cost of earlier deletions" >&2
}
# unmount_fs DIR: DIR's loop filesystem, if mounted, unmounted and its
# loop device let go (the image stays).
unmount_fs() {
  mountpoint -q "$1" || return 0
  local dev; dev=$(findmnt -n -o SOURCE "$1")
  umount "$1"; losetup -d "$dev" 2>/dev/null || true
}
# settle: what the harness itself just wrote (images, a warm-up copy, the
# tree) flushed, and the host given SETTLE seconds (10) to put it on its
# disk before the first timed run; otherwise that run met those writes and
# was the slowest of its set, most for a tool that waits for its own
# writes to reach the disk (cutover 4.21 s where its other rounds took
# 2.88-3.35 s).
settle() { sync; sleep "${SETTLE:-10}"; }
# refresh_fs DIR: DIR empty again, on a filesystem of its own made anew.
refresh_fs() {
  if mountpoint -q "$1"; then unmount_fs "$1"; rm -f "$1.img"; fi
  rm -rf "$1"; fresh_fs "$1"
}
cleanup_fs() {
  for m in "${MOUNTS[@]}"; do umount "$m" 2>/dev/null || true; rm -f "$m.img"; done
  for d in "${DEVS[@]}"; do losetup -d "$d" 2>/dev/null || true; done
}

PGBIN=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)
export PATH="$PGBIN:$PATH"
as_pg() { if [ "$(id -u)" -eq 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }

# start_pg DIR PORT: a cluster (trust auth on loopback) stopped by stop_pgs.
PG_DIRS=()
start_pg() {
  mkdir -p "$(dirname "$1")"; chmod 755 "$(dirname "$1")"
  [ "$(id -u)" -eq 0 ] && chown postgres "$(dirname "$1")"
  as_pg initdb -D "$1" -U postgres --auth=trust -E UTF8 --locale C.UTF-8 > /dev/null
  cat >> "$1/postgresql.conf" <<CONF
port = $2
listen_addresses = '127.0.0.1'
unix_socket_directories = '$(dirname "$1")'
shared_buffers = 512MB
max_wal_size = 8GB
checkpoint_timeout = 30min
max_connections = 60
CONF
  as_pg pg_ctl -D "$1" -l "$1.log" -w start > /dev/null
  PG_DIRS+=("$1")
}
stop_pgs() { for d in "${PG_DIRS[@]}"; do as_pg pg_ctl -D "$d" -m fast stop > /dev/null 2>&1 || true; done; }
