#!/bin/sh
# errors.sh - what a newcomer meets, said in words, with nothing changed:
# sopfs with --redis and no Redis there or no Redis URL, a mountpoint
# that is not empty (refused; -o nonempty mounts over it), one that is
# mounted already, a data folder another sopfs holds (its mountpoint named,
# by sopfs and by sop), a mount whose daemon died, a missing /dev/fuse or
# one that is not the FUSE device (simulated in a mount namespace of its
# own: unshare -m), fusermount3 missing for a user other than root (the
# same, run as nobody); and `sop stats MNT` reading .sop-stats.  Each check
# looks for the reason's words and that the data folder was not made.
. "$(dirname "$0")/lib.sh"

SOP=$SOP_BUILDDIR/tools/sop
E=$T/err

# says NAME WORDS CMD...: CMD fails with status 1 and its stderr holds WORDS
says() {
    name=$1
    words=$2
    shift 2
    "$@" >"$OUT" 2>"$E"
    st=$?
    cat "$E" >>"$OUT"
    [ "$st" -eq 1 ] && grep -qF -- "$words" "$E"
    ok $? "$name"
}
nothing_made() {
    check "  and nothing was made ($1)" test ! -e "$1"
}

if grep -q '^#define HAVE_HIREDIS 1' "$SOP_BUILDDIR/config.h" 2>/dev/null; then
    refused="redis 127.0.0.1:1: connect: Connection refused"
else
    refused="needs Redis support, and this build of sop has none"
fi
says "--redis with no Redis there: the library's reason" "$refused" \
    "$SOPFS" -f --redis 'redis://127.0.0.1:1/0?timeout_ms=300' "$T/d-redis" "$MNT"
nothing_made "$T/d-redis"
says "-o redis= says the same" "$refused" \
    "$SOPFS" -f -o 'redis=redis://127.0.0.1:1?timeout_ms=300' "$T/d-redis" "$MNT"
nothing_made "$T/d-redis"
says "--redis with what is not a Redis URL" "http://x is not a Redis URL" \
    "$SOPFS" -f --redis http://x "$T/d-redis" "$MNT"
says "-o max_threads=0: the reason" "-o max_threads=0: at least 1" \
    "$SOPFS" -f -o max_threads=0 "$T/d-mt" "$MNT"
nothing_made "$T/d-mt"

mkdir -p "$T/full"
echo mine >"$T/full/keep.txt"
says "a mountpoint that is not empty is refused" \
    "mountpoint $T/full is not empty (1 entry, 'keep.txt' among them): the mount would hide it; choose an empty folder, or add -o nonempty" \
    "$SOPFS" -f "$T/d-full" "$T/full"
nothing_made "$T/d-full"
check "-o nonempty mounts over it" t "$SOPFS" -o nonempty "$T/d-full" "$T/full"
check "  and it is mounted" mountpoint -q "$T/full"
t fusermount3 -u "$T/full"
wait_until 20 sh -c "! mountpoint -q '$T/full'"
same "  its file is there again after" mine cat "$T/full/keep.txt"

check "mount" mount_fs
says "a mountpoint mounted already is refused" \
    "$MNT is mounted already (fuse.sopfs of $DATA): unmount it first (fusermount3 -u $MNT)" \
    "$SOPFS" -f "$T/d-other" "$MNT"
nothing_made "$T/d-other"
mkdir -p "$T/m2"
says "a data folder another sopfs holds: its mountpoint named" \
    "the database is in use by another process (it holds $DATA/lock) (resource busy); sopfs has it mounted on $MNT already" \
    "$SOPFS" -f "$DATA" "$T/m2"
check "  nothing mounted there" sh -c "! mountpoint -q '$T/m2'"
says "sop on a folder sopfs holds: the mountpoint named" \
    "sopfs has it mounted on $MNT: work through the mount, or unmount it first" \
    "$SOP" stores "$DATA"
says "sop stats DIR on a folder sopfs holds: the mount to ask instead" \
    "the database is in use: sopfs has it mounted on $MNT; run \`sop stats $MNT\`" \
    "$SOP" stats "$DATA"
t mkdir "$MNT/s"
t sh -c "echo hello > '$MNT/s/f'"
same "sop stats MNT: the daemon's counters, bytes with units" "ok" \
    sh -c "'$SOP' stats '$MNT' | awk '\$1 == \"commits\" && \$2 >= 1 {c = 1} \$1 == \"bytes_written\" && \$3 ~ /B\$/ {b = 1} END {print (c && b) ? \"ok\" : \"no\"}'"
check "sop stats --json MNT is valid JSON" \
    sh -c "'$SOP' stats --json '$MNT' | python3 -c 'import json, sys; d = json.load(sys.stdin); assert d[\"source\"] == \"mount\" and d[\"stats\"][\"commits\"] >= 1'"
says "sop du MNT: says to ask stats, or to unmount" "this is a sopfs mount; du reads the data folder" \
    "$SOP" du "$MNT"

# a daemon that died leaves a mount every access to answers ENOTCONN
kill -9 "$PID"
wait_until 20 gone_or_zombie "$PID"
wait "$PID" 2>/dev/null
PID=
says "a mount whose daemon died: the reason and the cure" \
    "a FUSE mount whose daemon has gone is still there (Transport endpoint is not connected): unmount it first (fusermount3 -u $MNT)" \
    "$SOPFS" -f "$T/d-dead" "$MNT"
nothing_made "$T/d-dead"
fusermount3 -u -z "$MNT" 2>/dev/null
wait_until 10 sh -c "! mounted"

# the FUSE device, hidden or replaced in a mount namespace of this test's
# own (nothing outside it sees the change)
if [ "$(id -u)" -eq 0 ] && command -v unshare >/dev/null && unshare -m true 2>/dev/null; then
    says "no /dev/fuse: the module, the package, the container flag" \
        "/dev/fuse: No such file or directory: FUSE is not available here; load the kernel's FUSE module (modprobe fuse) and install the package fuse3 (apt-get install fuse3); in a container, pass the device in (docker run --device /dev/fuse" \
        unshare -m sh -c "mount -t tmpfs none /dev && mknod -m 666 /dev/null c 1 3 && exec '$SOPFS' -f '$T/d-nodev' '$MNT'"
    nothing_made "$T/d-nodev"
    says "/dev/fuse that is not the FUSE device" \
        "/dev/fuse is not the FUSE device (a character device 10:229; this is a character device 1:3)" \
        unshare -m sh -c "mount --bind /dev/null /dev/fuse && exec '$SOPFS' -f '$T/d-null' '$MNT'"
    nothing_made "$T/d-null"
    if ! command -v setpriv >/dev/null || ! id nobody >/dev/null 2>&1; then
        skip "fusermount3 missing, for a user other than root" "no setpriv or no user nobody"
        skip "/dev/fuse closed to the user" "no setpriv or no user nobody"
    elif ! setpriv --reuid=nobody --regid=nogroup --clear-groups test -x "$SOPFS"; then
        # a build in a folder only root may enter (mktemp -d makes it 700)
        skip "fusermount3 missing, for a user other than root" "user nobody cannot run $SOPFS"
        skip "/dev/fuse closed to the user" "user nobody cannot run $SOPFS"
    else
        chmod 755 "$T"
        mkdir -p "$T/u/m" "$T/u/dev"
        chmod 777 "$T/u" "$T/u/m"
        # a FUSE device node anyone may open, and no fusermount3, for nobody
        says "fusermount3 missing, for a user other than root: the package" \
            "fusermount3 is not installed (not in /usr/bin nor in PATH), and a user other than root mounts through it: install the package fuse3 (apt-get install fuse3), or run sopfs as root" \
            unshare -m sh -c "mount -t tmpfs -o mode=755 none '$T/u/dev' &&
                mknod -m 666 '$T/u/dev/fuse' c 10 229 && : > '$T/u/dev/none' &&
                mount --bind '$T/u/dev/fuse' /dev/fuse &&
                { [ ! -e /usr/bin/fusermount3 ] || mount --bind '$T/u/dev/none' /usr/bin/fusermount3; } &&
                exec setpriv --reuid=nobody --regid=nogroup --clear-groups env PATH=/usr/bin:/bin '$SOPFS' -f '$T/u/d' '$T/u/m'"
        nothing_made "$T/u/d"
        if [ "$(stat -c %a /dev/fuse)" != 666 ]; then
            says "/dev/fuse closed to the user: run as root or open it up" \
                "(sopfs runs as uid $(id -u nobody); the device is mode $(stat -c %a /dev/fuse)): run sopfs as root, or let users open it" \
                setpriv --reuid=nobody --regid=nogroup --clear-groups "$SOPFS" -f "$T/u/d" "$T/u/m"
        else
            skip "/dev/fuse closed to the user" "/dev/fuse is open to everyone here"
        fi
    fi
else
    skip "no /dev/fuse" "needs root and unshare -m"
    skip "/dev/fuse that is not the FUSE device" "needs root and unshare -m"
    skip "fusermount3 missing, for a user other than root" "needs root and unshare -m"
    skip "/dev/fuse closed to the user" "needs root and unshare -m"
fi
finish
