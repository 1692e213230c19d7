# Shared by the benchmark scripts (sourced, not run): a loopback sshd, a
# throwaway PostgreSQL cluster, timing.

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# secs CMD…: run CMD with its output in $OUT/last.log, print its wall time.
secs() { local t0 t1; t0=$(date +%s.%N); "$@" > "$OUT/last.log" 2>&1 || { echo "FAILED: $*" >&2; tail -30 "$OUT/last.log" >&2; exit 1; }; t1=$(date +%s.%N); echo "$t1 - $t0" | bc -l | xargs printf '%.2f'; }
ratio() { echo "$1 / $2" | bc -l | xargs printf '%.2f'; }

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
