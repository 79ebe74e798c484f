# tests/fs/lib.sh - helpers for the sopfs integration tests (sourced).
#
# Each test mounts a real sopfs on a fresh temporary folder, in the
# foreground and in the background, waits for the mount by polling
# `mountpoint -q` with a bound, and always unmounts and stops its daemon on
# exit (trap).  The whole script runs under `timeout`, every command that
# touches the mount too, so a hung daemon fails the test instead of the run.
# Output is TAP: ok/not ok per check, the plan last.
#
# Environment: SOP_BUILDDIR (the build folder, for src/sopfs), SOP_SRCDIR;
# SOPFS_TEST_KEEP=1 keeps the temporary folder for a post-mortem.

set -u
# the tests read sopfs's messages as a terminal shows them: under systemd (a
# CI runner in a unit) they would carry the journal's "<N>" prefixes
unset JOURNAL_STREAM NOTIFY_SOCKET INVOCATION_ID

if [ -z "${SOPFS_TEST_TIMED:-}" ]; then
    SOPFS_TEST_TIMED=1
    export SOPFS_TEST_TIMED
    exec timeout -k 10 "${SOPFS_TEST_TIMEOUT:-600}" sh "$0" "$@"
fi

: "${SOP_BUILDDIR:=$(cd "$(dirname "$0")/../.." && pwd)}"
: "${SOP_SRCDIR:=$SOP_BUILDDIR}"
SOPFS=$SOP_BUILDDIR/src/sopfs
T=
PID=
n=0
failures=0

skip_all() {
    echo "1..0 # SKIP $*"
    exit 0
}

[ -x "$SOPFS" ] || skip_all "no $SOPFS (libfuse3 missing at configure time?)"
[ -c /dev/fuse ] && [ -r /dev/fuse ] && [ -w /dev/fuse ] || skip_all "no usable /dev/fuse"
command -v fusermount3 >/dev/null || skip_all "no fusermount3"
command -v mountpoint >/dev/null || skip_all "no mountpoint(1)"

T=$(mktemp -d "${TMPDIR:-/tmp}/sopfs-test.XXXXXX") || exit 1
DATA=$T/data
MNT=$T/mnt
LOG=$T/daemon.log
OUT=$T/out
mkdir -p "$MNT"

# t CMD...: a command on the mount, bounded.
t() {
    timeout -k 5 "${SOPFS_CMD_TIMEOUT:-120}" "$@"
}

# ok STATUS NAME: one TAP line (status 0 passes).
ok() {
    n=$((n + 1))
    if [ "$1" -eq 0 ]; then
        echo "ok $n - $2"
    else
        echo "not ok $n - $2"
        failures=$((failures + 1))
        if [ -s "$OUT" ]; then
            sed 's/^/# /' "$OUT" | tail -n 20
        fi
    fi
    : >"$OUT"
}

# skip NAME REASON: a check that cannot run here.
skip() {
    n=$((n + 1))
    echo "ok $n - $1 # SKIP $2"
}

# check NAME CMD...: the command's status is the verdict; its output is kept
# for a failure report.
check() {
    name=$1
    shift
    "$@" >"$OUT" 2>&1
    ok $? "$name"
}

# same NAME EXPECTED CMD...: the command prints EXPECTED.
same() {
    name=$1
    want=$2
    shift 2
    got=$("$@" 2>"$OUT")
    if [ "$got" = "$want" ]; then
        ok 0 "$name"
    else
        printf 'expected: %s\ngot:      %s\n' "$want" "$got" >>"$OUT"
        ok 1 "$name"
    fi
}

# err CODE ARGS...: run a perl expression (a system call that returns false
# on failure) with ARGS in @ARGV; print "ok" or the errno name (EXDEV...).
err() {
    t perl -e '
        use Errno;
        my $code = shift @ARGV;
        my $r = eval $code;
        if ($r) { print "ok\n"; exit 0 }
        die $@ if $@;
        for my $e (sort keys %!) { if ($!{$e}) { print "$e\n"; exit 0 } }
        print "errno ", 0 + $!, "\n";' "$@"
}

# wait_until SECONDS CMD...: poll CMD every 50 ms until it succeeds.
wait_until() {
    limit=$(($1 * 20))
    shift
    i=0
    while [ $i -lt $limit ]; do
        "$@" >/dev/null 2>&1 && return 0
        sleep 0.05
        i=$((i + 1))
    done
    return 1
}

daemon_alive() {
    [ -n "$PID" ] && kill -0 "$PID" 2>/dev/null
}

# mount_fs [OPTIONS...]: start sopfs in the foreground (in the background of
# this shell) and wait until the mount is there.
mount_fs() {
    "$SOPFS" -f "$@" "$DATA" "$MNT" >>"$LOG" 2>&1 &
    PID=$!
    if ! wait_until 20 mountpoint -q "$MNT"; then
        echo "# sopfs did not mount; its log:"
        sed 's/^/#   /' "$LOG" | tail -n 20
        return 1
    fi
    return 0
}

# umount_fs: unmount and wait for the daemon to end (kill it past a bound).
# mounted: the kernel lists $MNT as a mount (also when its daemon died and
# every access to it answers ENOTCONN, which mountpoint takes for "not one")
mounted() {
    awk -v m="$MNT" '$2 == m { f = 1 } END { exit !f }' /proc/self/mounts
}

umount_fs() {
    if mountpoint -q "$MNT" 2>/dev/null; then
        fusermount3 -u "$MNT" 2>/dev/null || fusermount3 -u -z "$MNT" 2>/dev/null
    elif mounted; then
        fusermount3 -u -z "$MNT" 2>/dev/null
    fi
    if [ -n "$PID" ]; then
        if ! wait_until 20 sh -c "! kill -0 $PID 2>/dev/null"; then
            kill -9 "$PID" 2>/dev/null
        fi
        wait "$PID" 2>/dev/null
        st=$?
        PID=
        return $st
    fi
    return 0
}

remount_fs() {
    umount_fs && mount_fs "$@"
}

# gone_or_zombie PID: the process has ended (reaped or not)
gone_or_zombie() {
    [ ! -e "/proc/$1/stat" ] || sed 's/.*) //' "/proc/$1/stat" 2>/dev/null | grep -q '^Z'
}

# abort_conn: abort the FUSE connection of $MNT (/sys/fs/fuse/connections),
# which ends every request still waiting for an answer
abort_conn() {
    dev=$(awk -v m="$MNT" '$5 == m {print $3}' /proc/self/mountinfo | tail -n 1)
    [ -n "$dev" ] && echo 1 >"/sys/fs/fuse/connections/${dev#*:}/abort" 2>/dev/null
}

# kill9_fs: the daemon dies at once; the dead mount is detached.  Fails if
# the daemon could not finish dying within 20 s (its connection is then
# aborted, so that the test can go on).
kill9_fs() {
    st=0
    if [ -n "$PID" ]; then
        kill -9 "$PID" 2>/dev/null
        if ! wait_until 20 gone_or_zombie "$PID"; then
            echo "# sopfs (pid $PID) still there 20 s after kill -9; aborting its connection"
            abort_conn
            st=1
        fi
        wait "$PID" 2>/dev/null
        PID=
    fi
    fusermount3 -u -z "$MNT" 2>/dev/null
    wait_until 10 sh -c "! mountpoint -q '$MNT'" && return $st
}

cleanup() {
    st=$?
    trap - EXIT INT TERM
    umount_fs >/dev/null 2>&1
    if [ "${SOPFS_TEST_KEEP:-0}" = 1 ]; then
        echo "# kept $T"
    else
        rm -rf "$T"
    fi
    exit $st
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# stat_field FORMAT FILE
st() {
    t stat -c "$1" "$2"
}

# finish: the plan (at the end: a script that dies midway lacks it, and the
# TAP driver counts that as an error) and the exit status.
finish() {
    echo "1..$n"
    [ "$failures" -eq 0 ]
    exit $?
}
