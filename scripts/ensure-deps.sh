#!/usr/bin/env bash
# Make sure the programs that cutover's tests (or benchmarks) need are
# installed. Idempotent: installs with apt-get only what is missing, and only
# when run as root; otherwise prints exactly what to install and fails.
#   scripts/ensure-deps.sh test    # OpenSSH server and client (real sshd for integration tests)
#   scripts/ensure-deps.sh bench   # plus the peers: rsync, rclone, and GNU time
set -euo pipefail
mode=${1:-test}

need=()   # Debian packages to install
have() { command -v "$1" >/dev/null 2>&1 || [ -x "$1" ]; }
want() { have "$1" || need+=("$2"); }

want /usr/sbin/sshd openssh-server
want ssh openssh-client
want ssh-keygen openssh-client
want find findutils
want sha256sum coreutils
if [ "$mode" = bench ]; then
  want rsync rsync
  want rclone rclone
  want /usr/bin/time time
  want bc bc
  want python3 python3
fi

if [ ${#need[@]} -eq 0 ]; then
  exit 0
fi
# shellcheck disable=SC2207
need=($(printf '%s\n' "${need[@]}" | sort -u))
if [ "$(id -u)" -ne 0 ]; then
  echo "missing: ${need[*]}" >&2
  echo "install them with: sudo apt-get update && sudo apt-get install -y ${need[*]}" >&2
  exit 1
fi
echo "installing ${need[*]} with apt-get" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
