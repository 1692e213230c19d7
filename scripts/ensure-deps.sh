#!/usr/bin/env bash
# Make sure the programs that cutover's tests (or benchmarks) need are
# installed. Idempotent: installs with apt-get only what is missing, and only
# when run as root; otherwise prints exactly what to install and fails.
#   scripts/ensure-deps.sh test    # OpenSSH server and client (real sshd for integration tests), tcsh, bindfs,
#                                  # openssl and b3sum (the hash tools files verify runs on a host),
#                                  # PostgreSQL (initdb/pg_ctl for two test clusters, pg_dump, psql),
#                                  # Java and Lucene 8 (liblucene8-java: IndexFiles, CheckIndex), and the
#                                  # Lucene 4.10 jars unpacked into .cache/lucene4.10 (the package conflicts
#                                  # with liblucene8-java, so it is downloaded, not installed)
#   scripts/ensure-deps.sh bench   # plus the peers: rsync, rclone, pgcopydb, and GNU time
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
want openssl openssl   # files verify hashes on the source host with openssl dgst, sha256sum or b3sum: each is tested
want b3sum b3sum
want tcsh tcsh   # a login shell that is not sh: remote commands must not depend on it
want bindfs bindfs   # a FUSE filesystem: verification must read past the page cache of a network filesystem
want java default-jre-headless
compgen -G "/usr/lib/postgresql/*/bin/initdb" >/dev/null || need+=(postgresql)
want psql postgresql-client
want pg_dump postgresql-client
for jar in core demo analyzers-common queryparser; do
  compgen -G "/usr/share/java/lucene-$jar-8*.jar" >/dev/null || need+=(liblucene8-java)
done
if [ "$mode" = bench ]; then
  want rsync rsync
  want rclone rclone
  want /usr/bin/time time
  want bc bc
  want python3 python3
  want pgcopydb pgcopydb
  want fusermount3 fuse3   # latfs, the EFS stand-in of bench-efs (it mounts directly as root, else through fusermount3)
fi

# lucene4 unpacks Debian's Lucene 4.10 jars into .cache/lucene4.10 (idempotent).
lucene4() {
  local dir cache
  dir=$(cd "$(dirname "$0")/.." && pwd)/.cache
  cache=$dir/lucene4.10
  [ -f "$cache/usr/share/java/lucene-core-4.10.4.jar" ] && return 0
  mkdir -p "$dir/deb"
  (cd "$dir/deb" && apt-get download liblucene4.10-java >/dev/null 2>&1) || {
    [ "$(id -u)" -eq 0 ] && apt-get update -qq && (cd "$dir/deb" && apt-get download liblucene4.10-java >/dev/null)
  } || { echo "could not download liblucene4.10-java with apt-get download" >&2; return 1; }
  rm -rf "$cache.tmp" && dpkg -x "$dir"/deb/liblucene4.10-java_*.deb "$cache.tmp" && rm -rf "$cache" && mv "$cache.tmp" "$cache"
}

if [ ${#need[@]} -eq 0 ]; then
  lucene4
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
lucene4
