#!/bin/sh
# txn.sh - transactions as users meet them.
#  - auto-commit: a file's writes from open to close are one transaction:
#    others read the old content until the writer closes; a conflicting
#    close fails with EAGAIN and leaves the committed content intact;
#  - directory scopes: DIR/.sop-txn begin, commit, rollback; changes are
#    visible in the subtree at once, vanish on rollback, survive a remount
#    after commit; overlapping scopes EBUSY, unknown commands EINVAL, a
#    rename out of the scope EXDEV, a failed commit keeps the scope open
#    ("failed") until rolled back.
. "$(dirname "$0")/lib.sh"

command -v mkfifo >/dev/null || skip_all "no mkfifo"

stat_of() { # the value of one .sop-stats counter
    sed -n "s/^$1: //p" "$MNT/.sop-stats"
}

# A writer that keeps its file open: dd copies a fifo into the file; the
# test feeds the fifo through a descriptor it holds open.
writer_open() { # writer_open FIFO FILE DDARGS...: start dd, wait until it opened FILE
    fifo=$1
    file=$2
    shift 2
    mkfifo "$fifo"
    dd if="$fifo" of="$file" bs=64k "$@" 2>"$fifo.err" &
    WPID=$!
}
opened() { # opened PID FILE: PID holds FILE open
    ls -l /proc/"$1"/fd 2>/dev/null | grep -q -- "-> $2\$"
}
wrote_more() { # the write counter passed $1
    [ "$(stat_of writes)" -gt "$1" ]
}

check "mount" mount_fs
t mkdir "$MNT/s" "$MNT/s2"
t sh -c "echo old > '$MNT/s/f'"

# --- auto-commit: readers see the old content until the writer's close
writer_open "$T/fifo1" "$MNT/s/f"
exec 5>"$T/fifo1"
check "a writer opened the file with O_TRUNC" wait_until 20 opened $WPID "$MNT/s/f"
same "its truncation is not visible before close" old t cat "$MNT/s/f"
before=$(stat_of writes)
printf 'new\n' >&5
check "the writer wrote" wait_until 20 wrote_more "$before"
same "its bytes are not visible before close" old t cat "$MNT/s/f"
exec 5>&-
check "close commits (the writer exits 0)" wait $WPID
same "after close everyone sees the new content" new t cat "$MNT/s/f"

# --- a reader of a file renamed or unlinked meanwhile reads it to its end
# (logrotate renames a log that tail or a player is reading)
head -c 4000000 /dev/urandom >"$T/big"
t cp "$T/big" "$MNT/s/log"
exec 8<"$MNT/s/log"
dd bs=1000 count=1 <&8 >"$T/got" 2>/dev/null
t mv "$MNT/s/log" "$MNT/s/log.1"
cat <&8 >>"$T/got"
exec 8<&-
check "a reader reads on across a rename of its file" cmp "$T/big" "$T/got"
exec 8<"$MNT/s/log.1"
dd bs=1000 count=1 <&8 >"$T/got" 2>/dev/null
t rm "$MNT/s/log.1"
cat <&8 >>"$T/got"
exec 8<&-
check "  and across an unlink" cmp "$T/big" "$T/got"

# --- a reader opened before a writer keeps reading the old content
t sh -c "echo before > '$MNT/s/r'"
exec 8<"$MNT/s/r"
writer_open "$T/fifo0" "$MNT/s/r"
exec 9>"$T/fifo0"
check "a writer opened s/r with O_TRUNC" wait_until 20 opened $WPID "$MNT/s/r"
same "a reader opened before reads the old content" before sh -c 'timeout 60 cat <&8'
exec 8<&-
exec 9>&-
check "the writer closes" wait $WPID
same "the file is empty now" 0 st %s "$MNT/s/r"

# --- a conflicting close fails with EAGAIN and changes nothing
t sh -c "echo base > '$MNT/s/c'"
writer_open "$T/fifo2" "$MNT/s/c" conv=notrunc
exec 6>"$T/fifo2"
check "a second writer opened its file" wait_until 20 opened $WPID "$MNT/s/c"
check "begin a scope on the store" t sh -c "echo begin > '$MNT/s/.sop-txn'"
t sh -c "echo scoped > '$MNT/s/c'"
check "the scope commits first" t sh -c "echo commit > '$MNT/s/.sop-txn'"
printf 'X' >&6
exec 6>&-
wait $WPID # (in this shell: a sh -c cannot wait for it, and would not wait)
check "the writer's close fails" test $? -ne 0
check "with EAGAIN" grep -q "Resource temporarily unavailable" "$T/fifo2.err"
same "the committed content is intact" scoped t cat "$MNT/s/c"

# --- whole pages a writer wrote through the page cache, then failed to
#     commit, are never read afterwards
t sh -c "head -c 8192 /dev/zero | tr '\\0' o > '$MNT/s/p'"
writer_open "$T/fifo5" "$MNT/s/p" conv=notrunc
exec 6>"$T/fifo5"
check "a writer opened s/p" wait_until 20 opened $WPID "$MNT/s/p"
check "begin a scope on the store" t sh -c "echo begin > '$MNT/s/.sop-txn'"
t sh -c "head -c 8192 /dev/zero | tr '\\0' s > '$MNT/s/p'" # same size: the kernel keeps pages
check "the scope commits first" t sh -c "echo commit > '$MNT/s/.sop-txn'"
before=$(stat_of writes)
head -c 8192 /dev/zero | tr '\0' X >&6
check "the writer wrote two whole pages" wait_until 20 wrote_more "$before"
sizes() { echo $(wc -c < "$1") $(tr -d s < "$1" | wc -c); } # size, bytes other than s
# (no reader in between: its open without keep_cache would drop the pages)
exec 6>&-
wait $WPID # (in this shell: a sh -c cannot wait for it, and would not wait)
check "the writer's close fails" test $? -ne 0
same "the committed content is read, not the writer's pages" "8192 0" sizes "$MNT/s/p"

# --- a private mmap(2) of a reader opened while a page-cache writer is open
#     sees the reader's snapshot, and the pages it faulted in are not kept
#     as the committed content after the writer's commit
MMAP_READ=$SOP_BUILDDIR/tests/fs/mmap_read
t sh -c "head -c 8192 /dev/zero | tr '\\0' o > '$MNT/s/m'"
writer_open "$T/fifo6" "$MNT/s/m" conv=notrunc
exec 6>"$T/fifo6"
check "a writer opened s/m" wait_until 20 opened $WPID "$MNT/s/m"
before=$(stat_of writes)
head -c 4096 /dev/zero | tr '\0' N >&6
check "it wrote a whole page" wait_until 20 wrote_more "$before"
same "a private mapping opened meanwhile reads the old content" oooo \
    sh -c "'$MMAP_READ' '$MNT/s/m' 4096 | head -c 4"
exec 6>&-
check "the writer commits" wait $WPID
same "a reader after the commit reads the new page, not the mapping's" "4096 4096" \
    sh -c "echo \$(head -c 4096 '$MNT/s/m' | tr -d o | wc -c) \$(tail -c 4096 '$MNT/s/m' | tr -d N | wc -c)"

# --- scopes
check "begin" t sh -c "echo begin > '$MNT/s/.sop-txn'"
same "state: active" "state: active" sh -c "head -n 1 '$MNT/s/.sop-txn'"
t sh -c "echo a > '$MNT/s/x'"
t mkdir "$MNT/s/d"
same "changes are visible in the subtree at once" a t cat "$MNT/s/x"
same "a nested scope: EBUSY" EBUSY err 'open(F, ">", $ARGV[0]) and print(F "begin\n") and close(F)' "$MNT/s/d/.sop-txn"
same "a scope over it at the root: EBUSY" EBUSY err 'open(F, ">", $ARGV[0]) and print(F "begin\n") and close(F)' "$MNT/.sop-txn"
same "an unknown command: EINVAL" EINVAL err 'open(F, ">", $ARGV[0]) and print(F "frobnicate\n") and close(F)' "$MNT/s/.sop-txn"
same "the scope is still active" "state: active" sh -c "head -n 1 '$MNT/s/.sop-txn'"
same "a rename out of the scope: EXDEV" EXDEV err 'rename($ARGV[0], $ARGV[1])' "$MNT/s/x" "$MNT/s2/x"
check "changes are counted" sh -c "grep -q '^changes: [1-9]' '$MNT/s/.sop-txn'"
check "rollback" t sh -c "echo rollback > '$MNT/s/.sop-txn'"
check "rollback discarded the changes" sh -c "! test -e '$MNT/s/x' && ! test -e '$MNT/s/d'"
same "state: rolled back" "state: rolled back" sh -c "head -n 1 '$MNT/s/.sop-txn'"
same "commit with no scope open: EINVAL" EINVAL err 'open(F, ">", $ARGV[0]) and print(F "commit\n") and close(F)' "$MNT/s/.sop-txn"

t sh -c "echo old > '$MNT/s/m'"
t touch -d '2001-02-03 04:05:06' "$MNT/s/m"
check "begin again" t sh -c "echo begin > '$MNT/s/.sop-txn'"
t sh -c "echo new >> '$MNT/s/m'"
check "a write in the scope moves the file's mtime" sh -c "[ \$(stat -c %Y '$MNT/s/m') -gt 981173106 ]"
t sh -c "echo kept > '$MNT/s/y'"
t mkdir -p "$MNT/s/dir/sub"
t sh -c "echo deep > '$MNT/s/dir/sub/z'"
t rm "$MNT/s/f"
check "commit" t sh -c "echo commit > '$MNT/s/.sop-txn'"
same "state: committed" "state: committed" sh -c "head -n 1 '$MNT/s/.sop-txn'"
check "  and the mtime is committed" sh -c "[ \$(stat -c %Y '$MNT/s/m') -gt 981173106 ]"

check "a scope over the whole database" t sh -c "echo begin > '$MNT/.sop-txn'"
t mkdir "$MNT/s3"
t sh -c "echo three > '$MNT/s3/t'"
t mv "$MNT/s/y" "$MNT/s2/y"
check "commit it" t sh -c "echo commit > '$MNT/.sop-txn'"

# --- a failed commit: the scope stays open until rolled back
t sh -c "echo base > '$MNT/s2/k'"
writer_open "$T/fifo3" "$MNT/s2/k" conv=notrunc
exec 7>"$T/fifo3"
check "a writer opened s2/k" wait_until 20 opened $WPID "$MNT/s2/k"
check "begin on s2" t sh -c "echo begin > '$MNT/s2/.sop-txn'"
t sh -c "echo inscope > '$MNT/s2/k'"
printf 'W' >&7
exec 7>&-
check "the writer commits first" wait $WPID
same "the scope's commit conflicts: EAGAIN" EAGAIN err 'open(F, ">", $ARGV[0]) and print(F "commit\n") and close(F)' "$MNT/s2/.sop-txn"
same "state: failed" "state: failed" sh -c "head -n 1 '$MNT/s2/.sop-txn'"
check "the reason is shown" sh -c "grep -q '^error: .*conflict' '$MNT/s2/.sop-txn'"
same "changes are refused while failed" EAGAIN err 'open(my $f, ">", $ARGV[0])' "$MNT/s2/new"
check "rollback ends it" t sh -c "echo rollback > '$MNT/s2/.sop-txn'"
same "the writer's content stands" Wase t cat "$MNT/s2/k"

# --- two disjoint scopes, open at once, end independently
t mkdir "$MNT/s/one" "$MNT/s/two"
check "a scope on s/one" t sh -c "echo begin > '$MNT/s/one/.sop-txn'"
check "and one on its sibling s/two" t sh -c "echo begin > '$MNT/s/two/.sop-txn'"
t sh -c "echo 1 > '$MNT/s/one/f'"
t sh -c "echo 2 > '$MNT/s/two/f'"
same "a scope over both (their parent): EBUSY" EBUSY \
    err 'open(F, ">", $ARGV[0]) and print(F "begin\n") and close(F)' "$MNT/s/.sop-txn"
check "s/one commits while s/two stays open" t sh -c "echo commit > '$MNT/s/one/.sop-txn'"
same "  s/two is still active" "state: active" sh -c "head -n 1 '$MNT/s/two/.sop-txn'"
check "s/two rolls back" t sh -c "echo rollback > '$MNT/s/two/.sop-txn'"
check "  s/two's change is gone, s/one's stays" \
    sh -c "! test -e '$MNT/s/two/f' && test \"\$(cat '$MNT/s/one/f')\" = 1"

verify() {
    w=$1
    same "$w: a scope committed beside another that rolled back" "1 none" \
        sh -c "echo \$(cat '$MNT/s/one/f') \$(test -e '$MNT/s/two/f' && echo there || echo none)"
    same "$w: committed scope content" kept t cat "$MNT/s2/y"
    same "$w: committed nested directories" deep t cat "$MNT/s/dir/sub/z"
    check "$w: committed removal" sh -c "! test -e '$MNT/s/f'"
    same "$w: a store made in the root scope" three t cat "$MNT/s3/t"
    same "$w: auto-commit content" scoped t cat "$MNT/s/c"
}
verify live
check "unmount and mount again" remount_fs
verify remounted
check "clean unmount" umount_fs
finish
