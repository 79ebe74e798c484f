#!/bin/sh
# contrib/units.sh - systemd-analyze verify accepts the unit files
# (sopfs@.service as built, the example mount under the name it needs).  TAP.
set -u
if [ -z "${SOP_UNITS_TIMED:-}" ]; then
    SOP_UNITS_TIMED=1 exec timeout -k 5 60 sh "$0" "$@"
fi
: "${SOP_BUILDDIR:=$(cd "$(dirname "$0")/.." && pwd)}"
: "${SOP_SRCDIR:=$SOP_BUILDDIR}"
command -v systemd-analyze >/dev/null || { echo "1..0 # SKIP no systemd-analyze"; exit 0; }
T=$(mktemp -d "${TMPDIR:-/tmp}/sop-units.XXXXXX") || exit 1
trap 'rm -rf "$T"' EXIT INT TERM
n=0
verify() { # description, unit file
    n=$((n + 1))
    if systemd-analyze verify --man=no "$2" >"$T/out" 2>&1 && ! grep -q . "$T/out"; then
        echo "ok $n - $1"
    else
        echo "not ok $n - $1"; sed 's/^/# /' "$T/out"
    fi
}
# ExecStart must name an existing program: point it at the built sopfs.
sed "s|^ExecStart=[^ ]*|ExecStart=$SOP_BUILDDIR/src/sopfs|" "$SOP_BUILDDIR/contrib/sopfs@.service" \
    >"$T/sopfs@test.service"
verify "sopfs@.service verifies" "$T/sopfs@test.service"
cp "$SOP_SRCDIR/contrib/sopfs-example.mount" "$T/srv-sop.mount"
verify "sopfs-example.mount verifies as srv-sop.mount" "$T/srv-sop.mount"
echo "1..$n"
