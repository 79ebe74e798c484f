#!/bin/sh
# basic.sh - everyday file operations on a sopfs mount, each result checked
# again after unmount and remount: stores as directories, records as files,
# errors (EPERM at the root, ENOTEMPTY, EEXIST, ENAMETOOLONG, reserved
# names), attributes (chmod, chown, touch), symlinks, truncate, dd
# conv=notrunc, mv within and across stores replacing the target.
. "$(dirname "$0")/lib.sh"

check "mount" mount_fs

same "a plain file at the root is refused (EPERM)" EPERM err 'open(my $f, ">", $ARGV[0])' "$MNT/file"
check "mkdir at the root makes a store" t mkdir "$MNT/store"
same "mkdir of an existing store: EEXIST" EEXIST err 'mkdir($ARGV[0])' "$MNT/store"
check "cp a file in" t cp /etc/services "$MNT/store/services"
check "cat reads it back" t cmp /etc/services "$MNT/store/services"
t sh -c "echo hello > '$MNT/store/hello'"
same "echo > file; cat" hello t cat "$MNT/store/hello"
check "touch makes an empty file" t touch "$MNT/store/empty"
same "an empty file has size 0" 0 st %s "$MNT/store/empty"
check "mkdir -p inside a store" t mkdir -p "$MNT/store/a/b"
t sh -c "echo x > '$MNT/store/a/b/c'"
same "ls lists the store in key order" "a empty hello services" sh -c "ls '$MNT/store' | tr '\n' ' ' | sed 's/ \$//'"
same "ls -a hides .sop-txn" ". .. a empty hello services" sh -c "ls -a '$MNT/store' | tr '\n' ' ' | sed 's/ \$//'"
same "cat .sop-txn without a transaction" "state: none" t cat "$MNT/store/.sop-txn"
check ".sop-stats counts commits" sh -c "timeout 60 cat '$MNT/.sop-stats' | grep -q '^commits: [1-9]'"
check ".sop-stats shows the engine's cache hits, its bytes and the log" sh -c \
    "timeout 60 cat '$MNT/.sop-stats' | grep -c '^\(cache_hits\|cache_misses\|cache_bytes\|cache_budget\|log_bytes\|last_commit_seq\): [0-9]' | grep -qx 6"
check "  cache hits grow as records are read again" sh -c \
    "a=\$(sed -n 's/^cache_hits: //p' '$MNT/.sop-stats'); for i in 1 2 3; do ls -l '$MNT' >/dev/null; cat '$MNT/.sop-stats' >/dev/null; done; b=\$(sed -n 's/^cache_hits: //p' '$MNT/.sop-stats'); test \$b -gt \$a"
check "chmod" t chmod 640 "$MNT/store/hello"
if [ "$(id -u)" = 0 ]; then
    owner="1234 5678"
    check "chown" t chown 1234:5678 "$MNT/store/hello"
else
    owner="$(id -u) $(id -g)"
    skip "chown" "not root"
fi
check "ln -s" t ln -s hello "$MNT/store/link"
same "readlink" hello t readlink "$MNT/store/link"
same "cat through the link" hello t cat "$MNT/store/link"
check "truncate -s 3" t truncate -s 3 "$MNT/store/hello"
same "truncated content" hel t cat "$MNT/store/hello"
check "touch -d sets mtime" t touch -d '2001-02-03 04:05:06 UTC' "$MNT/store/hello"

cp /etc/services "$T/services"
printf 'XY' >"$T/xy"
dd if="$T/xy" of="$T/services" bs=1 seek=1000 conv=notrunc 2>/dev/null
check "dd seek conv=notrunc" t dd if="$T/xy" of="$MNT/store/services" bs=1 seek=1000 conv=notrunc
check "dd rewrote only those bytes" t cmp "$T/services" "$MNT/store/services"
check "rm" t rm "$MNT/store/empty"
same "rmdir of a store with records: ENOTEMPTY" ENOTEMPTY err 'rmdir($ARGV[0])' "$MNT/store"
same "rmdir of a non-empty directory: ENOTEMPTY" ENOTEMPTY err 'rmdir($ARGV[0])' "$MNT/store/a"
check "mv within a store" t mv "$MNT/store/a/b/c" "$MNT/store/a/c2"
check "mkdir a second store" t mkdir "$MNT/store2"
check "mv across stores" t mv "$MNT/store/services" "$MNT/store2/services"
t sh -c "echo one > '$MNT/store/r'; echo two > '$MNT/store2/r2'"
check "mv across stores replaces the target" t mv "$MNT/store/r" "$MNT/store2/r2"
check "mv a directory" t mv "$MNT/store/a" "$MNT/store/a2"
long=$(printf '%0256d' 0)
same "a 256-byte name: ENAMETOOLONG" ENAMETOOLONG err 'open(my $f, ">", $ARGV[0])' "$MNT/store/$long"
check "a 255-byte name is fine" t touch "$MNT/store/$(printf '%0255d' 0)"
t rm -f "$MNT/store/$(printf '%0255d' 0)"
same "reserved names: EPERM" EPERM err 'open(my $f, ">", $ARGV[0])' "$MNT/store/.sop-mine"
same "unlink .sop-txn: EPERM" EPERM err 'unlink($ARGV[0])' "$MNT/store/.sop-txn"
same "a hard link: one inode, two names, st_nlink 2" "2 same" \
    sh -c "ln '$MNT/store/hello' '$MNT/store/hl' && set -- \$(stat -c '%h %i' '$MNT/store/hello' '$MNT/store/hl') && [ \$2 = \$4 ] && echo \$1 same"
t rm "$MNT/store/hl"
same "  its unlink leaves the other name, st_nlink 1" 1 st %h "$MNT/store/hello"
t mkdir "$MNT/store/full" "$MNT/store/dst"
t touch "$MNT/store/dst/x"
same "rename onto a non-empty directory: ENOTEMPTY" ENOTEMPTY err 'rename($ARGV[0], $ARGV[1])' "$MNT/store/full" "$MNT/store/dst"
t rm -r "$MNT/store/full" "$MNT/store/dst"
check "mkdir and rmdir of an empty store" sh -c "mkdir '$MNT/s3' && rmdir '$MNT/s3' && ! test -e '$MNT/s3'"
check "statfs" t stat -f "$MNT"

verify() {
    w=$1
    same "$w: the root lists the stores" "store store2" sh -c "ls '$MNT' | tr '\n' ' ' | sed 's/ \$//'"
    same "$w: the store's files" "a2 hello link" sh -c "ls '$MNT/store' | tr '\n' ' ' | sed 's/ \$//'"
    same "$w: content" hel t cat "$MNT/store/hello"
    same "$w: mode, owner, mtime" "640 $owner 981173106" st '%a %u %g %Y' "$MNT/store/hello"
    same "$w: symlink" "hello" t readlink "$MNT/store/link"
    check "$w: moved big file" t cmp "$T/services" "$MNT/store2/services"
    same "$w: replaced target" one t cat "$MNT/store2/r2"
    same "$w: moved directory" x t cat "$MNT/store/a2/c2"
    check "$w: the old names are gone" sh -c "! test -e '$MNT/store/a' && ! test -e '$MNT/store/r'"
}
verify live
check "unmount and mount again" remount_fs
verify remounted

check "clean unmount" umount_fs
finish
