#!/bin/sh
# The image's entrypoint: checks that the state folder can hold an embedded PostgreSQL cluster,
# then runs `paperclipai "$@"` (default `run`) in the foreground, as PID 1's only child (tini).
set -eu

home="${PAPERCLIP_HOME:-/paperclip}"

fail() {
  echo "paperclip: $*" >&2
  exit 64
}

[ -d "$home" ] || mkdir -p "$home" 2>/dev/null || fail "cannot create $home (PAPERCLIP_HOME): mount a writable volume there"

# Writable by this user, and able to keep POSIX permissions: PostgreSQL refuses a data
# directory it cannot make 0700, which SMB/NFS-style mounts often cannot.
probe="$home/.paperclip-write-probe.$$"
if ! (umask 077 && : >"$probe") 2>/dev/null; then
  fail "$home is not writable by $(id -un) (uid $(id -u)): chown the volume to uid $(id -u), e.g. 'chown -R $(id -u) <host folder>'"
fi
chmod 700 "$probe" 2>/dev/null || true
mode=$(stat -c %a "$probe" 2>/dev/null || echo unknown)
rm -f "$probe"
if [ -z "${DATABASE_URL:-}" ] && [ "$mode" != "700" ]; then
  fail "$home does not keep file permissions (a file set to 700 reads back as $mode): embedded PostgreSQL needs a local filesystem there. Mount a local volume, or set DATABASE_URL to an external PostgreSQL"
fi

exec paperclipai "$@"
