#!/bin/sh
# parallel.sh - several processes at once: writers of distinct files in one
# store and in sibling directories, readers listing meanwhile, two writers
# sharing one file (one transaction until the last close), and a reader
# that keeps reading one snapshot while the file is replaced; nothing lost,
# no error, checked again after remount; and the same in the request
# loop's other modes (-s, one worker).
. "$(dirname "$0")/lib.sh"

N=6
M=60
check "mount" mount_fs
setup() { # the store s and its directories d1..dN
    t mkdir "$MNT/s"
    i=1
    while [ $i -le $N ]; do
        t mkdir "$MNT/s/d$i"
        i=$((i + 1))
    done
}
setup

worker() { # worker P: M files in the store and M in its own directory
    j=1
    while [ $j -le $M ]; do
        printf 'p%s f%s\n' "$1" "$j" >"$MNT/s/p$1-$j" || return 1
        printf 'p%s g%s\n' "$1" "$j" >"$MNT/s/d$1/g$j" || return 1
        j=$((j + 1))
    done
}
lister() {
    k=0
    while [ $k -lt 20 ]; do
        ls -R "$MNT/s" >/dev/null || return 1
        k=$((k + 1))
    done
}
start_writers() { # start_writers [BIG]: the N workers, and N copies of BIG; pids in $pids
    pids=
    i=1
    while [ $i -le $N ]; do
        worker $i &
        pids="$pids $!"
        if [ -n "${1:-}" ]; then
            dd if="$1" of="$MNT/s/big$i" bs=1M 2>/dev/null &
            pids="$pids $!"
        fi
        i=$((i + 1))
    done
}
wait_all() { # the status of the processes in $pids: 1 if any failed
    st=0
    for p in $pids; do
        wait "$p" || st=1
    done
    return $st
}
start_writers
lister &
pids="$pids $!"
wait_all
ok $? "$N writers and a lister at once, no error"

verify() {
    w=$1
    same "$w: every file of the store" $((N * M)) sh -c "ls '$MNT/s' | grep -c '^p'"
    same "$w: every file of the directories" $((N * M)) sh -c "find '$MNT/s' -path '*/d*/g*' -type f | wc -l"
    bad=0
    i=1
    while [ $i -le $N ]; do
        [ "$(cat "$MNT/s/p$i-$M")" = "p$i f$M" ] || bad=1
        [ "$(cat "$MNT/s/d$i/g1")" = "p$i g1" ] || bad=1
        i=$((i + 1))
    done
    ok $bad "$w: contents"
}
verify live

# two processes writing one file have a transaction each.  Appends: a dd
# fed through a fifo holds the file open while a shell appends and closes;
# the shell's close commits, and dd's close appends its bytes after them
# (O_APPEND writes land at the end as of their commit)
t sh -c "echo old > '$MNT/s/shared'"
mkfifo "$T/fifo"
dd if="$T/fifo" of="$MNT/s/shared" bs=64k oflag=append conv=notrunc 2>/dev/null &
DD=$!
exec 5>"$T/fifo"
check "a first writer holds the file" \
    wait_until 20 sh -c "ls -l /proc/$DD/fd | grep -q -- '-> $MNT/s/shared\$'"
before=$(sed -n 's/^writes: //p' "$MNT/.sop-stats")
printf 'one\n' >&5
check "it wrote" wait_until 20 sh -c "test \$(sed -n 's/^writes: //p' '$MNT/.sop-stats') -gt $before"
same "  uncommitted: others read the old content" old t cat "$MNT/s/shared"
t sh -c "printf 'two\n' >> '$MNT/s/shared'"
same "a second process's append commits at its own close" "old two" \
    sh -c "cat '$MNT/s/shared' | tr '\n' ' ' | sed 's/ \$//'"
exec 5>&-
check "the first writer closes without error" wait $DD
same "  and its bytes follow the other's" "old two one" \
    sh -c "cat '$MNT/s/shared' | tr '\n' ' ' | sed 's/ \$//'"

# (rewrites by two processes, the later one conflicting: writers.sh)

# a reader keeps its snapshot while the file is replaced
head -c 2000000 /dev/urandom >"$T/v1"
head -c 2000000 /dev/urandom >"$T/v2"
t cp "$T/v1" "$MNT/s/snap"
exec 6<"$MNT/s/snap"
dd bs=1000000 count=1 <&6 >"$T/got" 2>/dev/null
t cp "$T/v2" "$MNT/s/snap"
dd bs=1000000 count=1 <&6 >>"$T/got" 2>/dev/null
exec 6<&-
check "an open reader reads one snapshot across a commit" cmp "$T/v1" "$T/got"
check "a new reader reads the new content" t cmp "$T/v2" "$MNT/s/snap"

# a reader at the end of the file sees what is committed later (tail -f)
t sh -c "echo line1 > '$MNT/s/log'"
tail -f "$MNT/s/log" >"$T/tail" 2>/dev/null &
TAIL=$!
check "tail -f shows the first line" wait_until 20 grep -q line1 "$T/tail"
t sh -c "echo line2 >> '$MNT/s/log'"
check "and a line appended later" wait_until 20 grep -q line2 "$T/tail"
kill $TAIL 2>/dev/null
wait $TAIL 2>/dev/null

# a reader at the end of a file that is rewritten (not appended to) stays on
# its snapshot: no new bytes past its end, the old ones from the start
t sh -c "printf 'old content\n' > '$MNT/s/rw'"
same "a reader at the end of a rewritten file sees no new bytes, and the old ones" \
    "[] [old content]" t perl -e '
        open(F, "<", $ARGV[0]) or die "open: $!";
        sysread(F, my $a, 100);
        system("sh", "-c", "printf \"NEW AND LONGER CONTENT\\n\" > \"$ARGV[0]\"") == 0 or die;
        sysread(F, my $b, 100);
        sysseek(F, 0, 0);
        sysread(F, my $c, 100);
        chomp $c;
        print "[$b] [$c]\n"' "$MNT/s/rw"
same "a new reader reads the rewritten file" "NEW AND LONGER CONTENT" t cat "$MNT/s/rw"

check "unmount and mount again" remount_fs
verify remounted

# The request loop's other modes: no worker thread at all (-s), and one
# worker without polling.  Big copies (handed to workers, 1 MiB writes) and
# small files (answered by the reading thread) at once.
head -c 5000000 /dev/urandom >"$T/big"
for mode in "-s" "-o spin=0,max_threads=1"; do
    check "remount with $mode" remount_fs $mode
    t rm -rf "$MNT/s"
    setup
    start_writers "$T/big"
    wait_all
    ok $? "$mode: $N writers of small files and $N of big ones at once, no error"
    verify "$mode"
    bad=0
    i=1
    while [ $i -le $N ]; do
        cmp -s "$T/big" "$MNT/s/big$i" || bad=1
        i=$((i + 1))
    done
    ok $bad "$mode: the big files"
done
check "clean unmount" umount_fs
finish
