#!/bin/sh
# daemon.sh - the daemon itself: --version and --help, bad arguments,
# detaching without -f (the mount is there when the command returns), a
# second daemon on the same data folder, SIGTERM with a file open for
# writing and a scope open (both rolled back and said so in the log, the
# committed data kept), -o debug, and the mount helper: mount.fuse3 with
# TYPE#SOURCE and mount options, as `mount -t fuse.sopfs` and fstab lines
# run it (those two need sopfs installed where mount(8) looks, and are
# checked only then).
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

# SIGTERM with a writer that has not closed and a scope that is open
check "mount in the foreground" mount_fs
t mkdir "$MNT/s/sc"
perl -e 'open(F, ">", $ARGV[0]) or die "open: $!"; syswrite(F, "uncommitted\n") or die;
         open(W, ">", $ARGV[1]); close W; sleep 60' "$MNT/s/open" "$T/wrote" &
WP=$!
check "a writer wrote and keeps its file open" wait_until 20 test -e "$T/wrote"
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
installed=
for d in /usr/local/sbin /usr/local/bin /sbin /bin /usr/sbin /usr/bin; do
    [ -x "$d/sopfs" ] && installed=$d/sopfs && break
done
if [ "$(id -u)" != 0 ] || [ -z "$installed" ]; then
    skip "mount -t fuse.sopfs and an fstab line" "needs root and sopfs installed (make install)"
else
    check "mount -t fuse.sopfs ($installed)" t mount -t fuse.sopfs "$DATA" "$MNT"
    same "  the data is there" kept t cat "$MNT/s/kept"
    check "  umount" t umount "$MNT"
    wait_until 20 sh -c "! pgrep -f -- '$DATA $MNT' >/dev/null"
    printf '%s %s fuse.sopfs defaults,noatime 0 0\n' "$DATA" "$MNT" >"$T/fstab"
    check "an fstab line (mount -T FILE MNT)" t mount -T "$T/fstab" "$MNT"
    same "  the data is there" kept t cat "$MNT/s/kept"
    check "  umount" t umount "$MNT"
fi
finish
