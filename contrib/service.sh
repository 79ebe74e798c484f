#!/bin/sh
# contrib/service.sh - sopfs run as systemd runs a Type=notify service: a
# fake $NOTIFY_SOCKET (a python3 listener on a unix datagram socket) and
# $JOURNAL_STREAM set.  Checks READY=1 arrives once the mount is usable, the
# log lines carry sd-daemon "<N>" priority prefixes, SIGTERM brings
# STOPPING=1 and exit 0 within a bound with the mount gone, what was
# written before is there after a remount, and a refusal at start is an
# error line (<3>) too.  TAP.
set -u
if [ -z "${SOP_SVC_TIMED:-}" ]; then
    SOP_SVC_TIMED=1 exec timeout -k 10 120 sh "$0" "$@"
fi
: "${SOP_BUILDDIR:=$(cd "$(dirname "$0")/.." && pwd)}"
SOPFS=$SOP_BUILDDIR/src/sopfs
skip_all() { echo "1..0 # SKIP $*"; exit 0; }
[ -x "$SOPFS" ] || skip_all "no $SOPFS"
[ -c /dev/fuse ] && [ -r /dev/fuse ] && [ -w /dev/fuse ] || skip_all "no usable /dev/fuse"
command -v fusermount3 >/dev/null || skip_all "no fusermount3"
command -v mountpoint >/dev/null || skip_all "no mountpoint(1)"
command -v python3 >/dev/null || skip_all "no python3"
T=$(mktemp -d "${TMPDIR:-/tmp}/sop-svc.XXXXXX") || exit 1
PID= LPID=
cleanup() {
    [ -n "$PID" ] && kill "$PID" 2>/dev/null
    mountpoint -q "$T/mnt" 2>/dev/null && fusermount3 -uz "$T/mnt"
    [ -n "$LPID" ] && kill "$LPID" 2>/dev/null
    rm -rf "$T"
}
trap cleanup EXIT
trap 'exit 1' INT TERM
mkdir "$T/mnt"
n=0
check() { d=$1; shift; n=$((n + 1)); if "$@"; then echo "ok $n - $d"; else echo "not ok $n - $d"; fi; }
wait_for() { # bound in tenths of a second, then a command
    i=0; b=$1; shift
    while ! "$@"; do i=$((i + 1)); [ $i -ge "$b" ] && return 1; sleep 0.1; done
}

# The listener writes each datagram as a line, with whether the mount was
# usable (a write into it worked) at the moment READY=1 arrived.
python3 - "$T/notify" "$T/msgs" "$T/mnt" <<'PY' &
import os, socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(sys.argv[1])
out = open(sys.argv[2], "a", buffering=1)
while True:
    m = s.recv(4096).decode()
    if m == "READY=1":
        try:
            os.mkdir(os.path.join(sys.argv[3], "st"))
            m += " usable"
        except OSError as e:
            m += " unusable " + str(e)
    out.write(m + "\n")
PY
LPID=$!
wait_for 50 test -S "$T/notify" || { echo "1..0 # SKIP the listener did not start"; exit 0; }

NOTIFY_SOCKET=$T/notify JOURNAL_STREAM=8:1 "$SOPFS" -f "$T/data" "$T/mnt" 2>"$T/log" &
PID=$!
check "READY=1 arrives" wait_for 100 grep -q '^READY=1' "$T/msgs"
check "the mount is usable when READY=1 arrives" grep -q '^READY=1 usable' "$T/msgs"
printf 'durable\n' >"$T/mnt/st/k" 2>/dev/null
check "a file is written" test "$(cat "$T/mnt/st/k" 2>/dev/null)" = durable
kill -TERM "$PID"
check "STOPPING=1 arrives after SIGTERM" wait_for 100 grep -q '^STOPPING=1' "$T/msgs"
gone() { ! kill -0 "$PID" 2>/dev/null; }
check "sopfs exits within 10 s of SIGTERM" wait_for 100 gone
wait "$PID"; rc=$?; PID=
check "exit status 0" test "$rc" = 0
check "the mount is gone" sh -c "! mountpoint -q '$T/mnt'"
check "log lines carry <N> priority prefixes" grep -q '^<6>.*mounted on' "$T/log"
check "no log line lacks the prefix" sh -c "! grep -qv '^<[0-7]>' '$T/log'"
sed 's/^/# /' "$T/log"

"$SOPFS" -f "$T/data" "$T/mnt" 2>>"$T/log2" &
PID=$!
wait_for 100 mountpoint -q "$T/mnt"
check "what was written is there after a remount" test "$(cat "$T/mnt/st/k" 2>/dev/null)" = durable
kill -TERM "$PID"; wait "$PID"; PID=

# a refusal before any mount (the mountpoint is busy) is an error line too
JOURNAL_STREAM=8:1 "$SOPFS" -f "$T/data" /proc 2>"$T/log3"
check "a refusal at start: a failing status" test $? != 0
check "  its line is an error for the journal (<3>)" grep -q '^<3>sopfs: ' "$T/log3"
check "  and no line lacks the prefix" sh -c "! grep -qv '^<[0-7]>' '$T/log3'"
sed 's/^/# /' "$T/log3"
echo "1..$n"
