#!/bin/sh
# crash.sh - kill -9 of the daemon, then a new mount: what close() returned
# for is there (with its metadata), a file still open for writing when the
# daemon died keeps its old content, an open directory scope is gone.
. "$(dirname "$0")/lib.sh"

command -v mkfifo >/dev/null || skip_all "no mkfifo"

check "mount" mount_fs
t mkdir "$MNT/s"
i=0
while [ $i -lt 50 ]; do
    t sh -c "echo record $i > '$MNT/s/r$i'"
    i=$((i + 1))
done
head -c 3000000 /dev/urandom >"$T/blob"
check "cp of a 3 MB file" t cp "$T/blob" "$MNT/s/blob"
check "chmod" t chmod 600 "$MNT/s/r7"
check "mkdir" t mkdir -p "$MNT/s/d/e"
check "symlink" t ln -s r1 "$MNT/s/link"
check "rename" t mv "$MNT/s/r2" "$MNT/s/d/e/r2"
check "unlink" t rm "$MNT/s/r3"
t sh -c "echo committed > '$MNT/s/open'"

# a writer that has not closed when the daemon dies
mkfifo "$T/fifo"
dd if="$T/fifo" of="$MNT/s/open" bs=64k 2>/dev/null &
DD=$!
exec 5>"$T/fifo"
check "a writer holds s/open" wait_until 20 sh -c "ls -l /proc/$DD/fd | grep -q -- '-> $MNT/s/open\$'"
printf 'uncommitted\n' >&5
check "a scope is open with a change" t sh -c "echo begin > '$MNT/s/d/.sop-txn' && echo scoped > '$MNT/s/d/inscope'"

check "kill -9 of the daemon" kill9_fs
exec 5>&-
wait $DD 2>/dev/null
check "mount again" mount_fs

same "all 50 records minus the removed ones" 48 sh -c "ls '$MNT/s' | grep -c '^r[0-9]'"
same "a record" "record 49" t cat "$MNT/s/r49"
check "the 3 MB file" t cmp "$T/blob" "$MNT/s/blob"
same "its mode" 600 st %a "$MNT/s/r7"
check "the directory" test -d "$MNT/s/d/e"
same "the symlink" r1 t readlink "$MNT/s/link"
same "the rename" "record 2" t cat "$MNT/s/d/e/r2"
check "the unlink" sh -c "! test -e '$MNT/s/r3' && ! test -e '$MNT/s/r2'"
same "the unclosed file keeps its committed content" committed t cat "$MNT/s/open"
check "the open scope left nothing" sh -c "! test -e '$MNT/s/d/inscope'"
same "and no scope is open" "state: none" t cat "$MNT/s/d/.sop-txn"
check "the mount works on" sh -c "echo after > '$MNT/s/after' && test \"\$(cat '$MNT/s/after')\" = after"
check "clean unmount" umount_fs
finish
