#!/bin/sh
# daemon.sh - the daemon itself: --version and --help, bad arguments,
# detaching without -f (the mount is there when the command returns), a
# second daemon on the same data folder, SIGTERM with a file open for
# writing and a scope open (both rolled back and said so in the log, the
# committed data kept), -o debug, and the mount helper: mount.fuse3 with
# TYPE#SOURCE and mount options, as `mount -t fuse.sopfs` and fstab lines
# run it, with sopfs installed into a temporary prefix, and the installed
# mount.fuse.sopfs run as mount(8) runs it (as root only).
. "$(dirname "$0")/lib.sh"

same "--version" sopfs sh -c "'$SOPFS' --version | cut -d' ' -f1"
check "--help" sh -c "'$SOPFS' --help | grep -q '^usage: sopfs'"
same "no mountpoint: status 1" 1 sh -c "'$SOPFS' '$DATA' >/dev/null 2>&1; echo \$?"
same "a missing mountpoint: status 1, named in the message" "1 named" \
    sh -c "'$SOPFS' '$DATA' '$T/nowhere' 2>'$T/e'; echo \$? \$(grep -q nowhere '$T/e' && echo named)"
same "a bad option value: status 1" 1 \
    sh -c "'$SOPFS' -f -o flush_interval=soon '$DATA' '$MNT' >/dev/null 2>&1; echo \$?"
check "  and nothing mounted" sh -c "! mountpoint -q '$MNT'"
mkdir -p "$T/same"
same "a data folder that is the mountpoint: status 1, the cause in words" "1 cause" \
    sh -c "'$SOPFS' -f '$T/same' '$T/same' 2>'$T/e'; echo \$? \$(grep -q 'the same as the mountpoint' '$T/e' && echo cause)"
same "  one inside it too" "1 cause" \
    sh -c "'$SOPFS' -f '$T/same/data' '$T/same' 2>'$T/e'; echo \$? \$(grep -q 'inside the mountpoint' '$T/e' && echo cause)"
check "  and nothing was made there" sh -c "[ -z \"\$(ls -A '$T/same')\" ]"

# without -f: the command returns once the mount is in place
check "without -f the command returns 0" t "$SOPFS" "$DATA" "$MNT"
check "  with the mount in place" mountpoint -q "$MNT"
DPID=$(pgrep -f -n -- "$DATA $MNT")
check "  and the daemon running on" test -n "$DPID"
t mkdir "$MNT/s"
t sh -c "echo kept > '$MNT/s/kept'"

mkdir -p "$T/m2"
same "a second daemon on the same folder exits at once, saying why" "1 in use" \
    sh -c "'$SOPFS' -f '$DATA' '$T/m2' 2>'$T/e2'; echo \$? \$(grep -q 'in use' '$T/e2' && echo in use)"
check "  and mounts nothing" sh -c "! mountpoint -q '$T/m2'"

check "fusermount3 -u unmounts" t fusermount3 -u "$MNT"
check "  and the detached daemon ends" wait_until 20 sh -c "! kill -0 $DPID 2>/dev/null"

# SIGTERM with a writer and a reader that have not closed and a scope that
# is open (under ASan, whatever the unmount leaves unfreed fails the status)
check "mount in the foreground" mount_fs
t mkdir "$MNT/s/sc"
perl -e 'open(F, ">", $ARGV[0]) or die "open: $!"; syswrite(F, "uncommitted\n") or die;
         open(R, "<", $ARGV[1]) or die "open: $!"; sysread(R, my $b, 4) == 4 or die;
         open(W, ">", $ARGV[2]); close W; sleep 60' "$MNT/s/open" "$MNT/s/kept" "$T/wrote" &
WP=$!
check "a writer wrote and a reader read, both keep their files open" wait_until 20 test -e "$T/wrote"
check "a scope begins" t sh -c "echo begin > '$MNT/s/sc/.sop-txn'"
t sh -c "echo scoped > '$MNT/s/sc/f'"
kill -TERM "$PID"
check "SIGTERM: the daemon ends with status 0" wait_until 20 sh -c "! kill -0 $PID 2>/dev/null"
wait "$PID"
same "  (its status)" 0 echo $?
PID=
check "  the mount is gone" sh -c "! mountpoint -q '$MNT'"
check "  the log says the open file's changes were discarded" \
    grep -Eq "[1-9][0-9]* files still open at unmount: their uncommitted changes are discarded" "$LOG"
check "  and that the scope's transaction was rolled back" \
    grep -q "transaction [0-9]* still open at unmount: rolled back" "$LOG"
kill "$WP" 2>/dev/null
wait "$WP" 2>/dev/null

check "mount again, with -o debug" mount_fs -o debug
same "what was committed is there" kept t cat "$MNT/s/kept"
same "the file never closed is as its create left it: empty" 0 st %s "$MNT/s/open"
check "the scope's file is not there" sh -c "! test -e '$MNT/s/sc/f'"
check "-o debug logs every operation" grep -q "debug: lookup " "$LOG"
check "unmount" umount_fs
n_debug=$(grep -c "debug:" "$LOG")
check "mount without -o debug" mount_fs
t cat "$MNT/s/kept" >/dev/null
same "  logs no operation" "$n_debug" grep -c "debug:" "$LOG"
check "unmount" umount_fs

# the mount helper: `mount -t fuse.sopfs DATA MNT -o OPTS` runs
# `mount.fuse3 sopfs#DATA MNT -o OPTS`, which runs `sopfs DATA MNT -o OPTS`
if [ "$(id -u)" != 0 ] || ! command -v mount.fuse3 >/dev/null; then
    skip "mount.fuse3 with TYPE#SOURCE" "needs root and mount.fuse3"
else
    check "mount.fuse3 $SOPFS#DATA MNT -o ro,noatime" \
        t mount.fuse3 "$SOPFS#$DATA" "$MNT" -o ro,noatime
    same "  mounted read-only, noatime" "fuse.sopfs ro noatime" sh -c \
        "awk '\$2 == \"$MNT\" {print \$3, substr(\$4, 1, 2), (\$4 ~ /noatime/ ? \"noatime\" : \"\")}' /proc/mounts"
    same "  the data is there" kept t cat "$MNT/s/kept"
    same "  writes are refused" EROFS err 'open(my $f, ">", $ARGV[0])' "$MNT/s/new"
    check "  fusermount3 -u" t fusermount3 -u "$MNT"
fi
# mount(8) itself, with sopfs installed (make install prefix=$T/prefix, gone
# with $T).  mount(8) runs its helpers with PATH and LD_* taken out of the
# environment, and looks for mount.fuse.sopfs in /sbin only; without one
# there it runs /sbin/mount.fuse (fuse3), which runs the sopfs on the
# shell's default PATH (/usr/local/bin first).  So the checks run in a mount
# namespace of their own (a `sleep` that unshare(1) made, entered with
# nsenter(1); nothing outside it changes) where $P/bin is /usr/local/bin,
# /etc/ld.so.cache also lists $P/lib, and, for the last checks, $P/sbin is
# laid over /sbin.
if [ "$(id -u)" != 0 ]; then
    skip "mount -t fuse.sopfs, an fstab line, mount.fuse.sopfs" "needs root (mount(8))"
elif [ ! -x /sbin/mount.fuse ]; then
    skip "mount -t fuse.sopfs, an fstab line, mount.fuse.sopfs" "no /sbin/mount.fuse (fuse3)"
elif [ -e /sbin/mount.fuse.sopfs ]; then
    skip "mount -t fuse.sopfs, an fstab line, mount.fuse.sopfs" \
        "/sbin/mount.fuse.sopfs is there already: mount(8) would run it"
elif ! command -v make >/dev/null || [ ! -f "$SOP_BUILDDIR/Makefile" ]; then
    skip "mount -t fuse.sopfs, an fstab line, mount.fuse.sopfs" "no make or no $SOP_BUILDDIR/Makefile"
elif ! command -v unshare >/dev/null || ! command -v nsenter >/dev/null ||
    ! command -v ldconfig >/dev/null; then
    skip "mount -t fuse.sopfs, an fstab line, mount.fuse.sopfs" "no unshare, nsenter or ldconfig"
else
    P=$T/prefix
    NS=
    # ns CMD...: CMD in the namespace, bounded
    ns() {
        t nsenter -t "$NS" -m -- "$@"
    }
    # ns_gone: every mount of the namespace undone, its daemons ended, its
    # holder killed (run at exit before lib.sh's cleanup)
    ns_gone() {
        [ -n "$NS" ] || return 0
        for _ in 1 2 3; do
            nsenter -t "$NS" -m -- umount "$MNT" 2>/dev/null || break
        done
        nsenter -t "$NS" -m -- umount -l "$MNT" 2>/dev/null
        daemon_gone
        for p in $(pgrep -f -- "sopfs $DATA $MNT"); do kill -9 "$p" 2>/dev/null; done
        kill "$NS" 2>/dev/null
        wait "$NS" 2>/dev/null
        NS=
    }
    trap 'st=$?; ns_gone; (exit $st); cleanup' EXIT
    # daemon_exe: the program of the daemon serving $MNT, as its namespace names it
    # (pgrep from this shell: a `sh -c` with the pattern would match itself)
    daemon_exe() {
        readlink "/proc/$(pgrep -f -n -- "sopfs $DATA $MNT")/exe"
    }
    no_daemon() {
        ! pgrep -f -- "sopfs $DATA $MNT" >/dev/null
    }
    daemon_gone() {
        wait_until 20 no_daemon
    }
    other_ns() {
        [ "$(readlink "/proc/$NS/ns/mnt")" != "$(readlink /proc/self/ns/mnt)" ]
    }
    # mount.fuse3 and sopfs get what mount(8) gives them: the data folder
    # holds a committed file, and a read-only mount shows it
    ro_mount_checks() {
        same "  mounted read-only" "fuse.sopfs ro" ns sh -c \
            "awk '\$2 == \"$MNT\" {print \$3, substr(\$4, 1, 2)}' /proc/self/mounts"
        same "  the data is there" kept ns cat "$MNT/s/kept"
        same "  writes are refused" 1 ns sh -c \
            "touch '$MNT/s/new' 2>&1 | grep -c 'Read-only file system'"
        check "  umount" ns umount "$MNT"
        check "  and the daemon ends" daemon_gone
    }

    # a make of its own, not a part of the make check that runs this test
    check "make install prefix=\$T/prefix" t env -u MAKEFLAGS -u MFLAGS -u MAKELEVEL \
        -u MAKEOVERRIDES make -C "$SOP_BUILDDIR" install prefix="$P"
    check "  an ld.so cache that also lists \$T/prefix/lib" ldconfig -C "$T/ld.so.cache" "$P/lib"
    unshare -m --propagation private sleep 900 &
    NS=$!
    check "a mount namespace of the test's own" wait_until 20 other_ns
    check "  where \$T/prefix/bin is /usr/local/bin and the cache is /etc/ld.so.cache" \
        ns sh -c "mount --bind '$P/bin' /usr/local/bin && mount --bind '$T/ld.so.cache' /etc/ld.so.cache"

    check "mount -t fuse.sopfs DATA MNT" ns env -u LD_LIBRARY_PATH mount -t fuse.sopfs "$DATA" "$MNT"
    same "  served by the installed sopfs (/usr/local/bin/sopfs)" /usr/local/bin/sopfs daemon_exe
    same "  the data is there" kept ns cat "$MNT/s/kept"
    check "  umount" ns umount "$MNT"
    check "  and the daemon ends" daemon_gone

    printf '%s %s fuse.sopfs defaults,noatime,nofail 0 0\n' "$DATA" "$MNT" >"$T/fstab"
    check "an fstab line (mount -T FILE MNT)" ns mount -T "$T/fstab" "$MNT"
    same "  mounted noatime" noatime ns sh -c \
        "awk '\$2 == \"$MNT\" && \$4 ~ /noatime/ {print \"noatime\"}' /proc/self/mounts"
    same "  the data is there" kept ns cat "$MNT/s/kept"
    check "  umount" ns umount "$MNT"
    check "  and the daemon ends" daemon_gone

    # the helper run directly, with the environment mount(8) leaves it
    check "the installed mount.fuse.sopfs DATA MNT -o ro, as mount(8) runs it" \
        ns env -i "$P/sbin/mount.fuse.sopfs" "$DATA" "$MNT" -o ro
    same "  runs the sopfs installed with it" "$P/bin/sopfs" daemon_exe
    ro_mount_checks

    if ns mount -t overlay overlay -o "lowerdir=$P/sbin:/sbin" /sbin 2>"$OUT"; then
        : >"$OUT"
        check "with it in /sbin: mount -t fuse.sopfs -o ro DATA MNT" \
            ns mount -t fuse.sopfs -o ro "$DATA" "$MNT"
        same "  runs it (and it the sopfs installed with it)" "$P/bin/sopfs" daemon_exe
        ro_mount_checks
    else
        skip "with it in /sbin: mount -t fuse.sopfs -o ro DATA MNT" "no overlayfs to lay it over /sbin"
    fi
    ns_gone
fi
finish
